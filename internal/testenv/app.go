package testenv

import (
	"context"
	"testing"

	"github.com/sentiance-authcode/backend/internal/app"
	"github.com/sentiance-authcode/backend/internal/config"
)

// NewApp builds the whole function with app.New, the one wiring point, from
// env (the variables the template sets) and o (the fakes). It is closed at
// cleanup. A bad env fails the test.
func NewApp(t testing.TB, env map[string]string, o app.Options) *app.App {
	t.Helper()
	cfg, err := config.Load(func(name string) string { return env[name] })
	if err != nil {
		t.Fatalf("testenv: configuration: %v", err)
	}
	fn, err := app.New(context.Background(), cfg, o)
	if err != nil {
		t.Fatalf("testenv: app.New: %v", err)
	}
	t.Cleanup(fn.Close)
	return fn
}
