package app

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(map[string]string{"USER_LINK_SECRET_ID": "sentiance/user-link"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.SentianceBaseURL != "https://api.sentiance.com" {
		t.Errorf("base URL = %q, want the EU region", c.SentianceBaseURL)
	}
	if c.SecretTTL != 5*time.Minute || c.ExternalIDClaim != "sub" {
		t.Errorf("defaults = %+v", c)
	}
	if strings.Join(c.JWTAlgorithms, ",") != "RS256,ES256" {
		t.Errorf("algorithms = %v", c.JWTAlgorithms)
	}
	if c.JWTIssuer != "" {
		t.Error("verifies tokens without JWT_ISSUER")
	}
}

func TestLoad(t *testing.T) {
	base := map[string]string{"USER_LINK_SECRET_ID": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name   string
		env    map[string]string
		badVar string // variable the error must name; empty: no error
		check  func(t *testing.T, c Config)
	}{
		{name: "us region", env: with("SENTIANCE_REGION", "us"), check: func(t *testing.T, c Config) {
			if c.SentianceBaseURL != "https://api.p15.sentiance.com" {
				t.Errorf("base = %q", c.SentianceBaseURL)
			}
		}},
		{name: "india region", env: with("SENTIANCE_REGION", "in"), check: func(t *testing.T, c Config) {
			if c.SentianceBaseURL != "https://api.r16.sentiance.com" {
				t.Errorf("base = %q", c.SentianceBaseURL)
			}
		}},
		{name: "unknown region", env: with("SENTIANCE_REGION", "mars"), badVar: "SENTIANCE_REGION"},
		{name: "api url override over loopback http", env: with("SENTIANCE_API_URL", "http://127.0.0.1:9999/"), check: func(t *testing.T, c Config) {
			if c.SentianceBaseURL != "http://127.0.0.1:9999" {
				t.Errorf("base = %q", c.SentianceBaseURL)
			}
		}},
		{name: "api url plain http elsewhere", env: with("SENTIANCE_API_URL", "http://api.sentiance.com"), badVar: "SENTIANCE_API_URL"},
		{name: "api url not a url", env: with("SENTIANCE_API_URL", "api.sentiance.com"), badVar: "SENTIANCE_API_URL"},
		{name: "secret id required", env: map[string]string{}, badVar: "USER_LINK_SECRET_ID"},
		{name: "ttl", env: with("SECRET_CACHE_TTL", "90s"), check: func(t *testing.T, c Config) {
			if c.SecretTTL != 90*time.Second {
				t.Errorf("ttl = %v", c.SecretTTL)
			}
		}},
		{name: "ttl not a duration", env: with("SECRET_CACHE_TTL", "5"), badVar: "SECRET_CACHE_TTL"},
		{name: "ttl negative", env: with("SECRET_CACHE_TTL", "-1m"), badVar: "SECRET_CACHE_TTL"},
		{name: "issuer with audiences", env: with("JWT_ISSUER", "https://issuer.example", "JWT_AUDIENCE", " a , b ,"), check: func(t *testing.T, c Config) {
			if c.JWTIssuer == "" || strings.Join(c.JWTAudiences, "|") != "a|b" {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "issuer without audience", env: with("JWT_ISSUER", "https://issuer.example"), badVar: "JWT_AUDIENCE"},
		{name: "issuer over http", env: with("JWT_ISSUER", "http://issuer.example", "JWT_AUDIENCE", "a"), badVar: "JWT_ISSUER"},
		{name: "jwks url over http", env: with("JWKS_URL", "http://keys.example/jwks"), badVar: "JWKS_URL"},
		{name: "algorithm none refused", env: with("JWT_ALGORITHMS", "RS256,none"), badVar: "JWT_ALGORITHMS"},
		{name: "hmac refused", env: with("JWT_ALGORITHMS", "HS256"), badVar: "JWT_ALGORITHMS"},
		{name: "rate limit", env: with("RATE_LIMIT", "5/1m", "RATE_LIMIT_TABLE", "limits", "RATE_LIMIT_FAIL_MODE", "closed"), check: func(t *testing.T, c Config) {
			if c.RateLimit == nil || c.RateLimit.N != 5 || c.RateLimit.Window != time.Minute || c.RateLimitTable != "limits" || !c.RateLimitFailClosed {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "rate limit off by default", env: with(), check: func(t *testing.T, c Config) {
			if c.RateLimit != nil || c.RateLimitFailClosed {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "rate limit malformed", env: with("RATE_LIMIT", "lots"), badVar: "RATE_LIMIT"},
		{name: "rate limit fail mode unknown", env: with("RATE_LIMIT_FAIL_MODE", "maybe"), badVar: "RATE_LIMIT_FAIL_MODE"},
		{name: "custom claim and app id", env: with("EXTERNAL_ID_CLAIM", "custom:external_id", "SENTIANCE_APP_ID", "app-1"), check: func(t *testing.T, c Config) {
			if c.ExternalIDClaim != "custom:external_id" || c.SentianceAppID != "app-1" {
				t.Errorf("config = %+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if tt.badVar != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.badVar) {
					t.Fatalf("err = %v, want ErrInvalid naming %s", err, tt.badVar)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestLogLevel(t *testing.T) {
	for name, want := range map[string]slog.Level{
		"TRACE": slog.LevelDebug, "debug": slog.LevelDebug, "INFO": slog.LevelInfo, "": slog.LevelInfo,
		"WARN": slog.LevelWarn, "ERROR": slog.LevelError, "FATAL": slog.LevelError,
	} {
		if got, ok := LogLevel(name); got != want || !ok {
			t.Errorf("LogLevel(%q) = %v, %v; want %v", name, got, ok, want)
		}
	}
	if got, ok := LogLevel("verbose"); got != slog.LevelInfo || ok {
		t.Errorf("LogLevel(verbose) = %v, %v; want info, not ok", got, ok)
	}
}
