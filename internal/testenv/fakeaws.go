package testenv

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// ErrFakeDown is what the fakes answer while SetDown(true): a stand-in for
// the service being unreachable.
var ErrFakeDown = errors.New("testenv: fake AWS service is down")

// SecretsManager is an in-process fake of the one Secrets Manager call the
// function makes (GetSecretValue), for the tests that run without moto. It
// answers as the service does: the current value by name or ARN, and
// ResourceNotFoundException for an unknown secret. Safe for concurrent use.
type SecretsManager struct {
	mu      sync.Mutex
	secrets map[string]string
	calls   int
	down    bool
}

// NewSecretsManager returns an empty fake.
func NewSecretsManager() *SecretsManager {
	return &SecretsManager{secrets: map[string]string{}}
}

// CreateSecret stores a secret and returns its ARN, by which it is found too.
func (f *SecretsManager) CreateSecret(t testing.TB, name, value string) (arn string) {
	t.Helper()
	arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-AbCdEf"
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[name], f.secrets[arn] = value, value
	return arn
}

// PutSecretValue replaces a secret's value.
func (f *SecretsManager) PutSecretValue(t testing.TB, name, value string) {
	t.Helper()
	f.CreateSecret(t, name, value)
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

// GetSecretValue implements secret.API.
func (f *SecretsManager) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.down {
		return nil, ErrFakeDown
	}
	v, ok := f.secrets[aws.ToString(in.SecretId)]
	if !ok {
		return nil, &smtypes.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")}
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v)}, nil
}
