package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// CognitoPool is a user pool in moto's cognito-idp, which signs real
// Cognito-shaped RS256 tokens (access tokens with client_id, ID tokens with
// aud) and serves the pool's JWKS at JWKSURL. Its tokens' iss is
// https://cognito-idp.<region>.amazonaws.com/<ID>; moto has no discovery
// document.
//
// The calls are plain AWS JSON requests rather than the SDK's
// cognitoidentityprovider client: the tests need five operations, and a
// module dependency for them would be the only use of it.
type CognitoPool struct {
	ID string
	m  *Moto
}

// CreateUserPool creates an empty user pool.
func (m *Moto) CreateUserPool(t testing.TB, name string) *CognitoPool {
	t.Helper()
	var out struct {
		UserPool struct {
			ID string `json:"Id"`
		}
	}
	m.cognito(t, "CreateUserPool", map[string]any{"PoolName": name}, &out)
	return &CognitoPool{ID: out.UserPool.ID, m: m}
}

// JWKSURL is where moto serves the pool's keys (plain http).
func (p *CognitoPool) JWKSURL() string { return p.m.URL + "/" + p.ID + "/.well-known/jwks.json" }

// CreateClient creates an app client that allows USER_PASSWORD_AUTH and
// returns its id.
func (p *CognitoPool) CreateClient(t testing.TB, name string) string {
	t.Helper()
	var out struct {
		UserPoolClient struct {
			ClientID string `json:"ClientId"`
		}
	}
	p.m.cognito(t, "CreateUserPoolClient", map[string]any{
		"UserPoolId": p.ID, "ClientName": name,
		"ExplicitAuthFlows": []string{"ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"},
	}, &out)
	return out.UserPoolClient.ClientID
}

// CreateUser creates a confirmed user with a permanent password.
func (p *CognitoPool) CreateUser(t testing.TB, username, password string) {
	t.Helper()
	p.m.cognito(t, "AdminCreateUser", map[string]any{"UserPoolId": p.ID, "Username": username, "MessageAction": "SUPPRESS"}, nil)
	p.m.cognito(t, "AdminSetUserPassword", map[string]any{"UserPoolId": p.ID, "Username": username, "Password": password, "Permanent": true}, nil)
}

// SignIn runs InitiateAuth with USER_PASSWORD_AUTH through clientID and
// returns the access and ID tokens.
func (p *CognitoPool) SignIn(t testing.TB, clientID, username, password string) (access, id string) {
	t.Helper()
	var out struct {
		AuthenticationResult struct{ AccessToken, IdToken string }
	}
	p.m.cognito(t, "InitiateAuth", map[string]any{
		"ClientId": clientID, "AuthFlow": "USER_PASSWORD_AUTH",
		"AuthParameters": map[string]string{"USERNAME": username, "PASSWORD": password},
	}, &out)
	return out.AuthenticationResult.AccessToken, out.AuthenticationResult.IdToken
}

// cognito calls one cognito-idp operation on moto and decodes the answer
// into out (when not nil).
func (m *Moto) cognito(t testing.TB, op string, in, out any) {
	t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AWSCognitoIdentityProviderService."+op)
	// Moto reads the region from the credential scope; it checks no signature.
	req.Header.Set("Authorization", fmt.Sprintf("AWS4-HMAC-SHA256 Credential=testing/20260101/%s/cognito-idp/aws4_request, SignedHeaders=host, Signature=0", motoRegion))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("testenv: cognito-idp %s: %v", op, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("testenv: cognito-idp %s answered %d: %s", op, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("testenv: cognito-idp %s: %v", op, err)
		}
	}
}
