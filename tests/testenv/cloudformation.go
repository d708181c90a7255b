package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
)

// StandInTemplate has template.yaml's parameters the doctor reads and its
// outputs, for CreateStack: moto cannot create the real template's
// resources, so the secret's ARN (SecretArn) and the API's URL (Url) come in
// as parameters and go out as the UserLinkSecretArn and AuthCodeUrl outputs.
const StandInTemplate = `{
  "Parameters": {
    "JwtIssuer": {"Type": "String"},
    "JwtAudience": {"Type": "String"},
    "ExternalIdClaim": {"Type": "String", "Default": "sub"},
    "VerifyTokenInFunction": {"Type": "String", "Default": "true"},
    "SecretArn": {"Type": "String"},
    "Url": {"Type": "String"}
  },
  "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
  "Outputs": {
    "AuthCodeUrl": {"Value": {"Ref": "Url"}},
    "UserLinkSecretArn": {"Value": {"Ref": "SecretArn"}},
    "FunctionName": {"Value": {"Fn::Sub": "${AWS::StackName}-AuthCodeFunction"}}
  }
}`

// CloudFormation returns a real SDK client for m (moto serves the
// CloudFormation API too), configured like SecretsManager's.
func (m *Moto) CloudFormation(t testing.TB) *cloudformation.Client {
	t.Helper()
	return cloudformation.NewFromConfig(m.cfg, func(o *cloudformation.Options) {
		o.BaseEndpoint = aws.String(m.URL)
	})
}

// CreateStack creates a stack from a JSON template with the given parameter
// values and fails the test unless moto reports it CREATE_COMPLETE. Moto
// creates only the resource types it knows (not AWS::SecretsManager::Secret,
// for one): see StandInTemplate.
func (m *Moto) CreateStack(t testing.TB, name, template string, params map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in := &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(template)}
	for k, v := range params {
		in.Parameters = append(in.Parameters, cftypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)})
	}
	cf := m.CloudFormation(t)
	if _, err := cf.CreateStack(ctx, in); err != nil {
		t.Fatalf("testenv: CreateStack %q: %v", name, err)
	}
	out, err := cf.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil || len(out.Stacks) != 1 || out.Stacks[0].StackStatus != cftypes.StackStatusCreateComplete {
		t.Fatalf("testenv: stack %q not created: %v %+v", name, err, out)
	}
}
