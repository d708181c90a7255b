package localmode_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/devtools/devsentiance"
	"github.com/sentiance-authcode/backend/tests/testenv"
)

// Local mode reading a secret (here from moto, through the SDK) shows the
// secret's expires_at in its banner. Not parallel: the SDK reads moto's
// address from the process environment.
func TestRunKeyExpiryFromSecret(t *testing.T) {
	const key = "key.local-expiry-from-secret"
	moto := testenv.StartMoto(t)
	moto.SetEnv(t)
	stand := devsentiance.Start(t, key)
	expires := time.Now().AddDate(0, 0, 120).UTC().Format(time.DateOnly)
	arn := moto.CreateSecret(t, "local/user-link", `{"user_link_api_key":"`+key+`","expires_at":"`+expires+`"}`)

	s := testenv.RunLocal(t, map[string]string{"USER_LINK_SECRET_ID": arn, "SENTIANCE_API_URL": stand.URL})
	banner := s.Stderr.String()
	if !strings.Contains(banner, "days ("+expires+")") || !strings.Contains(banner, "Key        expires in 11") {
		t.Errorf("banner does not show the key's 119-120 days left (%s):\n%s", expires, banner)
	}
	testenv.AssertNoLeak(t, banner+s.Stdout.String(), key)
}
