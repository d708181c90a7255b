// Package devsecrets is the Secrets Manager stand-in of local mode and the
// tests: GetSecretValue by name or ARN, as the service answers it.
package devsecrets

import (
	"context"
	"errors"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// ErrDown is what every call answers while SetDown(true): a stand-in for
// the service being unreachable.
var ErrDown = errors.New("devsecrets: Secrets Manager is down")

// SecretsManager holds secret values. It is safe for concurrent use.
type SecretsManager struct {
	mu      sync.Mutex
	secrets map[string]string // by name and by ARN
	calls   int
	down    bool
}

// New returns a stand-in without secrets.
func New() *SecretsManager {
	return &SecretsManager{secrets: map[string]string{}}
}

// Put creates or replaces a secret's value and returns its ARN, by which
// it is found too.
func (f *SecretsManager) Put(name, value string) (arn string) {
	arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-AbCdEf"
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[name], f.secrets[arn] = value, value
	return arn
}

// SetDown makes every call fail (true) or answer again (false).
func (f *SecretsManager) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// Calls returns how many GetSecretValue calls were made, failed ones included.
func (f *SecretsManager) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// GetSecretValue answers as Secrets Manager does.
func (f *SecretsManager) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.down {
		return nil, ErrDown
	}
	v, ok := f.secrets[aws.ToString(in.SecretId)]
	if !ok {
		return nil, &smtypes.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")}
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v)}, nil
}
