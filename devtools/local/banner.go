package local

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/sentiance-authcode/backend/devtools/devidp"
	"github.com/sentiance-authcode/backend/internal/app"
	"github.com/sentiance-authcode/backend/internal/secret"
)

// startInfo is what the banner and the start-up log lines tell.
type startInfo struct {
	BaseURL      string
	Config       app.Config
	StandIn      bool      // Sentiance is the local stand-in
	KeyFromEnv   bool      // the key comes from SENTIANCE_USER_LINK_KEY
	Token        string    // the demo user's token; empty with a real issuer
	TokenExpires time.Time // when Token expires
	KeyExpiry    string    // the key's expiry line; empty with the stand-in
	// LANURLs are the API's URLs on this machine's other addresses, when it
	// listens on all interfaces (LOCAL_ADDR=0.0.0.0:port): for a phone.
	LANURLs []string
}

// printBanner tells a person what runs and how to call it; the curl lines
// work as printed (with a real issuer, from $TOKEN).
func printBanner(w io.Writer, in startInfo) {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("")
	line("Sentiance auth-code backend, local mode")
	line("  API        %s  (POST /auth-code, GET /auth/code)", in.BaseURL)
	if in.Token != "" {
		line("  Identity   development issuer %s, audience %s (tokens of any other issuer are refused)", in.Config.JWTIssuer, strings.Join(in.Config.JWTAudiences, ","))
	} else {
		line("  Identity   %s, audience %s", in.Config.JWTIssuer, strings.Join(in.Config.JWTAudiences, ","))
	}
	switch {
	case in.StandIn:
		line("  Sentiance  LOCAL STAND-IN at %s", in.Config.SentianceBaseURL)
		line("")
		line("  WARNING: the codes are NOT real. They look like Sentiance's but the SDK's createUser")
		line("  will reject them. Set SENTIANCE_USER_LINK_KEY or USER_LINK_SECRET_ID for real codes.")
	case in.KeyFromEnv:
		line("  Sentiance  %s with the key from SENTIANCE_USER_LINK_KEY", in.Config.SentianceBaseURL)
	default:
		line("  Sentiance  %s with the key from secret %s", in.Config.SentianceBaseURL, in.Config.SecretID)
	}
	if in.KeyExpiry != "" {
		line("  Key        %s", in.KeyExpiry)
	}
	line("")
	auth := `"Authorization: Bearer $TOKEN"`
	if in.Token != "" {
		line("Token for the demo user %q (%s claim), valid until %s:", devidp.DemoUser, in.Config.ExternalIDClaim, in.TokenExpires.UTC().Format("2006-01-02 15:04 UTC"))
		line("")
		line("%s", in.Token)
		auth = "'Authorization: Bearer " + in.Token + "'"
	} else {
		line("Put a token from %s in $TOKEN.", in.Config.JWTIssuer)
	}
	line("")
	line("Try it:")
	line("")
	line("curl -sS -X POST -H %s %s/auth-code", auth, in.BaseURL)
	line("curl -sS -H %s %s/auth/code", auth, in.BaseURL)
	line("")
	port := in.BaseURL[strings.LastIndex(in.BaseURL, ":")+1:]
	line("In the app, use one of these as the backend URL and send the token as \"Authorization: Bearer <token>\":")
	line("  iOS simulator     %s", in.BaseURL)
	line("  Android emulator  http://10.0.2.2:%s", port)
	switch {
	case len(in.LANURLs) > 0:
		for _, u := range in.LANURLs {
			line("  a phone on your network  %s", u)
		}
	default:
		line("  a phone           LOCAL_ADDR=0.0.0.0:%s make run, then this machine's network address", port)
	}
	line("Ctrl-C stops.")
	line("")
	_, _ = io.WriteString(w, b.String())
}

// keyExpiryLine tells how long the key has left, as KeyExpiry found it.
func keyExpiryLine(expires time.Time, watched bool, err error, now time.Time) string {
	if err != nil {
		return fmt.Sprintf("not loaded yet (%v); requests will retry", err)
	}
	if !watched {
		return "expiry not watched (no expires_at; see SENTIANCE_USER_LINK_KEY_EXPIRES_AT)"
	}
	date := expires.UTC().Format(time.DateOnly)
	switch days := secret.DaysLeft(expires, now); {
	case days < 0:
		return fmt.Sprintf("EXPIRED %d days ago (%s): Sentiance will reject it", -days, date)
	case days < secret.WarnDaysBeforeExpiry:
		return fmt.Sprintf("expires in %d days (%s): put a new key in soon", days, date)
	default:
		return fmt.Sprintf("expires in %d days (%s)", days, date)
	}
}

// logStart records the same facts in the log, without the token.
func logStart(log *slog.Logger, in startInfo) {
	log.Info("local mode listening",
		"url", in.BaseURL,
		"jwt_issuer", in.Config.JWTIssuer,
		"development_issuer", in.Token != "",
		"sentiance", in.Config.SentianceBaseURL)
	if in.StandIn {
		log.Warn("Sentiance is a local stand-in: the codes it issues are NOT real")
	}
}
