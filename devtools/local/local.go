// Package local serves the function the Lambda runs on a developer's machine
// (`make run`), behind an emulation of API Gateway's HTTP API, with its own
// issuer and Sentiance stand-in unless real ones are configured.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sentiance-authcode/backend/devtools/devidp"
	"github.com/sentiance-authcode/backend/devtools/devsecrets"
	"github.com/sentiance-authcode/backend/devtools/devsentiance"
	"github.com/sentiance-authcode/backend/internal/app"
	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/internal/secret"
)

// Variables are the environment variables only local mode reads (the
// template must not set them), with what each is for.
var Variables = [][2]string{
	{"LOCAL_ADDR", "where to listen, default " + DefaultAddr + " (0.0.0.0:3000 for a phone on your network)"},
	{"SENTIANCE_USER_LINK_KEY", "a real user_link key, instead of a secret or the stand-in"},
	{"SENTIANCE_USER_LINK_KEY_EXPIRES_AT", "that key's expiry (YYYY-MM-DD), watched as the Lambda watches a secret's"},
}

const (
	// DefaultAddr is where local mode listens without LOCAL_ADDR.
	DefaultAddr = "127.0.0.1:3000"
	// ShutdownTimeout bounds the requests in flight after SIGINT or SIGTERM.
	ShutdownTimeout = authcode.Timeout + 5*time.Second
	// standInPath is where the Sentiance stand-in answers, beside the API.
	standInPath = "/sentiance-stand-in"
)

// Options are Run's inputs.
type Options struct {
	Getenv func(string) string
	Stdout io.Writer // logs
	Stderr io.Writer // the start-up banner
	// TextLogs selects human-readable logs instead of JSON lines.
	TextLogs bool
	// Ready, when set, is called with the API's base URL once it accepts
	// connections.
	Ready func(baseURL string)
}

// Main runs local mode until SIGINT or SIGTERM and returns the exit code: 0
// after a clean stop or -h, 2 for bad configuration or arguments, else 1.
func Main(args []string) int {
	switch {
	case len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help"):
		usage(os.Stdout)
		return 0
	case len(args) > 0:
		fmt.Fprintf(os.Stderr, "authcode: local mode takes no arguments (got %q), only environment variables: make run ARGS=-h lists them\n", args[0])
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills at once
	}()
	err := Run(ctx, Options{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr, TextLogs: isTerminal(os.Stdout)})
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "authcode:", err)
	if errors.Is(err, app.ErrInvalid) {
		return 2
	}
	return 1
}

// usage lists the variables local mode reads.
func usage(w io.Writer) {
	fmt.Fprintln(w, "Local mode serves the auth-code API on this machine, configured by environment variables:")
	for _, v := range Variables {
		fmt.Fprintf(w, "  %-36s %s\n", v[0], v[1])
	}
	fmt.Fprintln(w, "and the function's own, as the template sets them: see docs/operations.md#configuration.")
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Run serves until ctx is done, then lets requests finish (ShutdownTimeout).
// Configuration errors wrap app.ErrInvalid and name the variable.
func Run(ctx context.Context, o Options) error {
	getenv := func(name string) string { return strings.TrimSpace(o.Getenv(name)) }
	level, ok := app.LogLevel(getenv("AWS_LAMBDA_LOG_LEVEL"))
	if !ok {
		return invalid("AWS_LAMBDA_LOG_LEVEL", "must be TRACE, DEBUG, INFO, WARN, ERROR or FATAL; got %q", getenv("AWS_LAMBDA_LOG_LEVEL"))
	}
	log := newLogger(o.Stdout, o.TextLogs, level)

	addr := getenv("LOCAL_ADDR")
	if addr == "" {
		addr = DefaultAddr
	}
	if err := checkAddr(addr); err != nil {
		return err
	}
	userKey, secretID, apiURL := getenv("SENTIANCE_USER_LINK_KEY"), getenv("USER_LINK_SECRET_ID"), getenv("SENTIANCE_API_URL")
	switch {
	case userKey != "" && secretID != "":
		return invalid("SENTIANCE_USER_LINK_KEY", "and USER_LINK_SECRET_ID are both set; set one")
	case userKey == "" && secretID == "" && apiURL != "":
		return invalid("SENTIANCE_API_URL", "is set without a key: set SENTIANCE_USER_LINK_KEY or USER_LINK_SECRET_ID too (with neither, a local stand-in answers)")
	}
	keyExpiresAt := getenv("SENTIANCE_USER_LINK_KEY_EXPIRES_AT")
	if keyExpiresAt != "" {
		if userKey == "" {
			return invalid("SENTIANCE_USER_LINK_KEY_EXPIRES_AT", "is set without SENTIANCE_USER_LINK_KEY (a secret carries its own expires_at)")
		}
		// Not echoed: a value pasted into the wrong variable could be the key.
		if _, err := secret.ParseExpiry(keyExpiresAt); err != nil {
			return invalid("SENTIANCE_USER_LINK_KEY_EXPIRES_AT", "must be a date such as 2027-03-01 or an RFC 3339 date-time such as 2027-03-01T09:00:00Z")
		}
	}
	l, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s is in use by another program: stop it, or pick another port with LOCAL_ADDR (e.g. LOCAL_ADDR=127.0.0.1:3001 make run)", addr)
	}
	if err != nil {
		return fmt.Errorf("listen on %s (LOCAL_ADDR): %w", addr, err)
	}
	defer l.Close()
	baseURL := urlOf(l.Addr())

	// Embedded defaults, served beside the API: a development issuer and a
	// Sentiance stand-in.
	var idp *devidp.Issuer
	if getenv("JWT_ISSUER") == "" {
		if ip := l.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() && !ip.IsUnspecified() {
			return invalid("LOCAL_ADDR", "%s: the development issuer needs a loopback or all-interfaces address (e.g. 0.0.0.0:3000); or set JWT_ISSUER", addr)
		}
		if idp, err = devidp.New(baseURL); err != nil {
			return err
		}
	}
	var standIn http.Handler
	standInURL := ""
	if userKey == "" && secretID == "" {
		userKey = "dev." + devsentiance.NewCode()[:32]
		// Good for a year, like a new real key: nothing warns of a secret without expiry.
		keyExpiresAt = time.Now().AddDate(1, 0, 0).Format(time.DateOnly)
		standIn, standInURL = http.StripPrefix(standInPath, devsentiance.New(userKey)), baseURL+standInPath
	}
	cfg, err := app.Load(overlay(o.Getenv, localOverrides(getenv, baseURL, standInURL)))
	if err != nil {
		return err
	}

	opts := app.Options{Logger: log} // no metrics: EMF lines are for CloudWatch
	if userKey != "" {
		opts.SecretsManager = keyAsSecret(cfg.SecretID, userKey, keyExpiresAt)
	}
	fn, err := app.New(ctx, cfg, opts)
	if err != nil {
		return fmt.Errorf("%w: %w", app.ErrInvalid, err)
	}
	defer fn.Close()
	authorizer := NewAuthorizer(AuthorizerOptions{
		Issuer: cfg.JWTIssuer, Audiences: cfg.JWTAudiences, JWKSURL: cfg.JWKSURL, Logger: log, DevIssuer: idp != nil,
	})
	defer authorizer.Close()
	gw := &Gateway{Authorizer: authorizer, Function: fn.Function.Handle, Logger: log}
	srv := newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case idp != nil && idp.Handles(r.URL.Path):
			idp.ServeHTTP(w, r)
		case standIn != nil && strings.HasPrefix(r.URL.Path, standInPath+"/"):
			standIn.ServeHTTP(w, r)
		default:
			gw.ServeHTTP(w, r)
		}
	}), log)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	info := startInfo{BaseURL: baseURL, Config: cfg, StandIn: standIn != nil, KeyFromEnv: getenv("SENTIANCE_USER_LINK_KEY") != ""}
	if tcp := l.Addr().(*net.TCPAddr); tcp.IP.IsUnspecified() {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			info.LANURLs = lanURLs(addrs, tcp.Port)
		}
	}
	if standIn == nil {
		// Loads the key now (as the Lambda's init does), so the banner can
		// tell how long it has left; a failure is shown, not fatal.
		kctx, cancel := context.WithTimeout(ctx, app.PrefetchTimeout)
		expires, watched, err := fn.Keys.KeyExpiry(kctx)
		cancel()
		info.KeyExpiry = keyExpiryLine(expires, watched, err, time.Now())
	}
	if idp != nil {
		claims := map[string]any{"sub": devidp.DemoUser, "aud": cfg.JWTAudiences[0], cfg.ExternalIDClaim: devidp.DemoUser}
		if info.Token, err = idp.Mint(claims, devidp.TokenLifetime); err != nil {
			return err
		}
		info.TokenExpires = time.Now().Add(devidp.TokenLifetime)
	}
	printBanner(o.Stderr, info)
	logStart(log, info)
	if o.Ready != nil {
		o.Ready(baseURL)
	}

	select {
	case err := <-served:
		return fmt.Errorf("serving on %s: %w", addr, err)
	case <-ctx.Done():
	}
	log.Info("shutting down: no new connections; waiting for requests in flight", "timeout", ShutdownTimeout.String())
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("requests still running at the shutdown deadline were cut off", "error", err.Error())
		srv.Close()
	}
	<-served // http.ErrServerClosed
	log.Info("stopped")
	return nil
}

// localOverrides stand in for what the template would set: the development
// issuer, the stand-in's URL and a secret id that is never read.
func localOverrides(getenv func(string) string, issuerURL, standInURL string) map[string]string {
	set := map[string]string{}
	if getenv("JWT_ISSUER") == "" {
		set["JWT_ISSUER"] = issuerURL
		set["JWKS_URL"] = "" // discovered from the development issuer
		if getenv("JWT_AUDIENCE") == "" {
			set["JWT_AUDIENCE"] = devidp.Audience
		}
	}
	if getenv("USER_LINK_SECRET_ID") == "" {
		set["USER_LINK_SECRET_ID"] = "unused-in-local-mode"
	}
	if standInURL != "" {
		set["SENTIANCE_API_URL"] = standInURL
	}
	return set
}

func overlay(getenv func(string) string, set map[string]string) func(string) string {
	return func(name string) string {
		if v, ok := set[name]; ok {
			return v
		}
		return getenv(name)
	}
}

func invalid(name, format string, args ...any) error {
	return fmt.Errorf("%w: %s %s", app.ErrInvalid, name, fmt.Sprintf(format, args...))
}

// checkAddr accepts host:port with a numeric port (0 picks a free one).
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return invalid("LOCAL_ADDR", "must be host:port such as 127.0.0.1:3000; got %q", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return invalid("LOCAL_ADDR", "must have a port number 0-65535; got %q", addr)
	}
	return nil
}

// lanURLs are where a phone on the same network reaches an all-interfaces
// listener: each non-loopback unicast address, IPv4 first.
func lanURLs(addrs []net.Addr, port int) []string {
	var v4, v6 []string
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok || ipnet.IP.IsLoopback() || !ipnet.IP.IsGlobalUnicast() && !ipnet.IP.IsPrivate() {
			continue
		}
		u := "http://" + net.JoinHostPort(ipnet.IP.String(), strconv.Itoa(port))
		if ipnet.IP.To4() != nil {
			v4 = append(v4, u)
		} else {
			v6 = append(v6, u)
		}
	}
	return append(v4, v6...)
}

// urlOf is the base URL clients on this machine use for a listener: an
// all-interfaces listener is reached through 127.0.0.1.
func urlOf(a net.Addr) string {
	tcp := a.(*net.TCPAddr)
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}

func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      authcode.Timeout + 10*time.Second,
		IdleTimeout:       60 * time.Second,
		// A backstop; the gateway's exact 10,240-byte limit is checked per request.
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// newLogger writes text for a person at a terminal, JSON lines otherwise.
func newLogger(w io.Writer, text bool, level slog.Level) *slog.Logger {
	if !text {
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// keyAsSecret serves the key from the environment as the deployed secret
// would, so local mode runs the deployed key cache and expiry watch.
func keyAsSecret(id, key, expiresAt string) *devsecrets.SecretsManager {
	value := key
	if expiresAt != "" {
		b, _ := json.Marshal(map[string]string{secret.KeyField: key, secret.ExpiryField: expiresAt}) // strings always marshal
		value = string(b)
	}
	sm := devsecrets.New()
	sm.Put(id, value)
	return sm
}
