package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/sentiance-authcode/backend/internal/app"
	"github.com/sentiance-authcode/backend/internal/secret"
)

// The template's outputs the doctor reads.
var requiredOutputs = []string{"AuthCodeUrl", "UserLinkSecretArn", "FunctionName"}

// checkStack reads the stack's parameters and outputs into d.s. It reports
// false when there is nothing to check the rest against.
func (d *doctor) checkStack(ctx context.Context) bool {
	out, err := d.o.Stacks.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(d.o.Stack)})
	var apiErr smithy.APIError
	switch {
	// DescribeStacks answers ValidationError for a stack that does not exist.
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationError":
		d.fail("stack", "no stack %q in region %s: deploy it (sam build && sam deploy --guided), or name the right stack (-stack, samconfig's stack_name) and region (-region, AWS_REGION)", d.o.Stack, d.o.Region)
		return false
	case err != nil:
		d.fail("stack", "could not read stack %q in region %s: %v: check your AWS credentials (they need cloudformation:DescribeStacks)", d.o.Stack, d.o.Region, err)
		return false
	case len(out.Stacks) == 0:
		d.fail("stack", "no stack %q in region %s: deploy it, or name the right stack and region", d.o.Stack, d.o.Region)
		return false
	}
	st := out.Stacks[0]
	status := string(st.StackStatus)
	if strings.HasSuffix(status, "_FAILED") || strings.HasPrefix(status, "DELETE_") || status == "ROLLBACK_COMPLETE" {
		d.fail("stack", "stack %q is %s: its last deploy failed; see why with aws cloudformation describe-stack-events --stack-name %s, fix it and deploy again", d.o.Stack, status, d.o.Stack)
		return false
	}

	params := map[string]string{}
	for _, p := range st.Parameters {
		params[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	outputs := map[string]string{}
	for _, o := range st.Outputs {
		outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	var missing []string
	for _, name := range requiredOutputs {
		if outputs[name] == "" {
			missing = append(missing, name)
		}
	}
	if _, ok := params["JwtIssuer"]; !ok {
		missing = append(missing, "parameter JwtIssuer")
	}
	if len(missing) > 0 {
		d.fail("stack", "stack %q (%s) lacks %s: it was not deployed from this template; deploy it with sam build && sam deploy", d.o.Stack, status, strings.Join(missing, ", "))
		return false
	}
	d.s = Settings{
		Issuer: params["JwtIssuer"],
		// The gateway gets the values as !Split leaves them: untrimmed.
		Audiences:        strings.Split(params["JwtAudience"], ","),
		Claim:            params["ExternalIdClaim"],
		VerifyInFunction: params["VerifyTokenInFunction"] != "false",
		SecretID:         outputs["UserLinkSecretArn"],
		URL:              outputs["AuthCodeUrl"],
	}
	if d.s.Claim == "" {
		d.s.Claim = app.DefaultExternalIDClaim
	}
	d.ok("stack", "stack %q is %s in %s; outputs %s present", d.o.Stack, status, d.o.Region, strings.Join(requiredOutputs, ", "))
	return true
}

// putKey is the command that stores the key, with a placeholder for it.
func (d *doctor) putKey(id string) string {
	region := ""
	if d.o.Region != "" {
		region = " --region " + d.o.Region // the secret's, which may not be the shell's default
	}
	// The key is read, not typed into the command: argv is visible to every user.
	return fmt.Sprintf(`read -rs SENTIANCE_KEY && printf '{"%s":"%%s","%s":"<YYYY-MM-DD>"}' "$SENTIANCE_KEY" | aws secretsmanager put-secret-value%s --secret-id %s --secret-string file:///dev/stdin`, secret.KeyField, secret.ExpiryField, region, id)
}

// checkSecret judges the secret by the function's own parse.
func (d *doctor) checkSecret(ctx context.Context) {
	id := d.s.SecretID
	switch {
	case id == "":
		d.skip("secret", "no secret was named: pass -secret-id, or -stack after a deploy")
		return
	case d.o.Secrets == nil:
		d.skip("secret", "no Secrets Manager client was given")
		return
	}
	out, err := d.o.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	var notFound *smtypes.ResourceNotFoundException
	var apiErr smithy.APIError
	switch {
	case errors.As(err, &notFound):
		// Also what a secret the stack created answers until a key is put in.
		d.fail("secret", "secret %s has no value yet (or does not exist), so the API answers 503 key_unavailable: put the key in with %s (the stack's PutKeyCommand output)", id, d.putKey(id))
		return
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "AccessDeniedException":
		d.fail("secret", "your AWS credentials may not read secret %s (%s): run the doctor with credentials allowed secretsmanager:GetSecretValue on it", id, apiErr.ErrorCode())
		return
	case err != nil:
		d.fail("secret", "could not read secret %s: %v", id, err)
		return
	case out.SecretString == nil:
		d.fail("secret", "secret %s holds binary data; the function reads the string value: put the key in with %s", id, d.putKey(id))
		return
	}
	field := secret.KeyField
	v, err := secret.Parse(aws.ToString(out.SecretString))
	switch {
	case errors.Is(err, secret.ErrNotJSON):
		d.fail("secret", "secret %s starts with { but is not valid JSON: store it as {\"%s\":\"<key>\",\"%s\":\"<YYYY-MM-DD>\"} with %s", id, field, secret.ExpiryField, d.putKey(id))
		return
	case errors.Is(err, secret.ErrNoField):
		d.fail("secret", "secret %s is JSON without a non-empty %q field (its fields: %s): store the key under %q with %s", id, field, fieldNames(aws.ToString(out.SecretString)), field, d.putKey(id))
		return
	case err != nil:
		d.fail("secret", "secret %s is empty, so the API answers 503 key_unavailable: put the key in with %s", id, d.putKey(id))
		return
	}
	key := v.Key
	if problem := keyProblem(key); problem != "" {
		d.fail("secret", "the key in secret %s %s: put the Sentiance user_link key alone in with %s", id, problem, d.putKey(id))
		return
	}
	d.ok("secret", "secret %s holds a key in field %q: length %d, ends in …%s", id, field, len(key), key[len(key)-4:])
	d.checkExpiry(id, v)
}

// checkExpiry fails where the function would warn: the key expires soon,
// has expired, or its expires_at is unreadable.
func (d *doctor) checkExpiry(id string, v secret.Value) {
	expires, err := v.Expires, v.ExpiryErr
	fix := fmt.Sprintf("create a new user_link key and put it in with its expiry: %s (docs/operations.md#rotating-the-sentiance-key)", d.putKey(id))
	switch days := secret.DaysLeft(expires, d.o.Now()); {
	case err != nil:
		d.fail("expiry", "secret %s has an expires_at the function cannot read (%v): write it as YYYY-MM-DD or RFC 3339 with %s", id, err, d.putKey(id))
	case expires.IsZero():
		d.ok("expiry", "secret %s has no expires_at, so nothing warns before the key expires (one year after it was created), and with AlarmEmail set KeyExpiryNotWatchedAlarm fires within the hour of a key load: add it with %s", id, d.putKey(id))
	case days < 0:
		d.fail("expiry", "the key expired %d days ago (%s): Sentiance refuses it; %s", -days, expires.Format(time.DateOnly), fix)
	case days < secret.WarnDaysBeforeExpiry:
		d.fail("expiry", "the key expires in %d days (%s): %s", days, expires.Format(time.DateOnly), fix)
	default:
		d.ok("expiry", "the key expires in %d days (%s)", days, expires.Format(time.DateOnly))
	}
}

// minKeyLength is shorter than any Sentiance API key; a shorter value is a
// typo or a placeholder.
const minKeyLength = 16

// keyProblem says why key cannot be a Sentiance API key, or "" when it
// looks like one. It never quotes the key.
func keyProblem(key string) string {
	switch {
	case strings.HasPrefix(key, "<") || strings.HasSuffix(key, ">"):
		return "is still a <placeholder>"
	case strings.ContainsAny(key, " \t\r\n\"'{}"):
		return "contains spaces, quotes or braces (a paste of more than the key)"
	case len(key) < minKeyLength:
		return fmt.Sprintf("is %d characters long, too short for a Sentiance API key", len(key))
	}
	return ""
}

// fieldNames lists a JSON object's member names (never their values).
func fieldNames(value string) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal([]byte(value), &fields) != nil || len(fields) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(fields)), ", ")
}
