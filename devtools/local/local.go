// Package local runs the function as an HTTP server on a developer's machine
// (`make run`): no AWS account, no Docker. Each request goes through an
// emulation of API Gateway's HTTP API (routes, JWT authorizer, payload
// format 2.0 event; see Gateway) to the very handler the Lambda runs.
//
// With nothing configured it brings its own development identity provider
// (devtools/devidp) and Sentiance stand-in (devtools/devsentiance) and
// prints a ready token and curl commands; with JWT_ISSUER, a real key or a
// secret configured it uses the real thing instead.
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

// Variables are the environment variables only local mode reads. They are
// not part of app.Variables: the deployed function never reads them and
// the template must not set them.
var Variables = []string{
	"LOCAL_ADDR",              // where to listen, default DefaultAddr
	"SENTIANCE_USER_LINK_KEY", // a real user_link key, instead of a secret or the stand-in
	// The expiry of SENTIANCE_USER_LINK_KEY, as a secret's expires_at would
	// carry it, so local mode watches it as the Lambda does.
	"SENTIANCE_USER_LINK_KEY_EXPIRES_AT",
}

// DefaultAddr is where local mode listens without LOCAL_ADDR.
const DefaultAddr = "127.0.0.1:3000"

// ShutdownTimeout bounds how long in-flight requests may take to finish
// after SIGINT or SIGTERM: the function's own timeout plus a margin.
const ShutdownTimeout = authcode.Timeout + 5*time.Second

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

// Main runs local mode until SIGINT or SIGTERM and returns the process's
// exit code: 0 after a clean stop, 2 for bad configuration, 1 otherwise.
// Errors are one line on stderr.
func Main() int {
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

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Run serves the API until ctx is done, then lets in-flight requests finish
// (at most ShutdownTimeout) and returns nil. Configuration errors wrap
// app.ErrInvalid and name the variable.
func Run(ctx context.Context, o Options) error {
	getenv := func(name string) string { return strings.TrimSpace(o.Getenv(name)) }
	log := newLogger(o.Stdout, o.TextLogs, getenv("AWS_LAMBDA_LOG_LEVEL"))

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
	if err != nil {
		return fmt.Errorf("listen on %s (LOCAL_ADDR): %w", addr, err)
	}
	defer l.Close()
	baseURL := urlOf(l.Addr())

	// Embedded defaults: a development issuer on the API's own port, and a
	// Sentiance stand-in on a loopback port of its own.
	var idp *devidp.Issuer
	if getenv("JWT_ISSUER") == "" {
		if ip := l.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() && !ip.IsUnspecified() {
			return invalid("LOCAL_ADDR", "%s: the development issuer needs a loopback or all-interfaces address (e.g. 0.0.0.0:3000); or set JWT_ISSUER", addr)
		}
		if idp, err = devidp.New(baseURL); err != nil {
			return err
		}
	}
	var standIn *standInServer
	if userKey == "" && secretID == "" {
		if standIn, err = startStandIn(log); err != nil {
			return err
		}
		defer standIn.close() // after the API has drained: its requests need the stand-in
		userKey = standIn.key
	}
	standInURL := ""
	if standIn != nil {
		standInURL = standIn.url
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
		Issuer: cfg.JWTIssuer, Audiences: cfg.JWTAudiences, JWKSURL: cfg.JWKSURL, Logger: log,
	})
	defer authorizer.Close()
	gw := &Gateway{Authorizer: authorizer, Function: fn.Function.Handle, Logger: log}

	var handler http.Handler = gw
	if idp != nil {
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if idp.Handles(r.URL.Path) {
				idp.ServeHTTP(w, r)
				return
			}
			gw.ServeHTTP(w, r)
		})
	}
	srv := newServer(handler, log)
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
		expires, watched, err := fn.KeyExpiry(kctx)
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

// localOverrides are the values local mode supplies in place of the
// environment the template would set: the development issuer (when
// JWT_ISSUER is unset), the stand-in's URL (when it runs), and a
// placeholder secret id when the key does not come from Secrets Manager
// (config requires one; local mode then never reads it).
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

// lanURLs are http://<address>:port for each non-loopback unicast address
// of this machine, IPv4 first: where a phone on the same network reaches an
// all-interfaces listener.
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

// newLogger writes text for a person at a terminal, JSON lines otherwise,
// at the level AWS_LAMBDA_LOG_LEVEL names (as the deployed function).
func newLogger(w io.Writer, text bool, level string) *slog.Logger {
	if !text {
		return app.NewLogger(w, level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: app.LogLevel(level)}))
}

// keyAsSecret is Secrets Manager holding the key from the environment as
// secret id, so local mode runs the deployed key cache; with an expiry, as
// the deployed secret's JSON with both fields, so the cache watches it as it
// does on Lambda. A rejected key stays rejected: refreshing finds the same.
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

// standInServer is the Sentiance stand-in on its own loopback port.
type standInServer struct {
	url, key string
	srv      *http.Server
	served   chan struct{}
}

func startStandIn(log *slog.Logger) (*standInServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("the Sentiance stand-in: %w", err)
	}
	s := &standInServer{url: urlOf(l.Addr()), key: "dev." + devsentiance.NewCode()[:32], served: make(chan struct{})}
	s.srv = newServer(devsentiance.New(s.key), log)
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(l)
	}()
	return s, nil
}

// close runs after the API server has drained, so no request still needs it.
func (s *standInServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if s.srv.Shutdown(ctx) != nil {
		s.srv.Close()
	}
	<-s.served
}
