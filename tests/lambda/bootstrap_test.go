package lambda_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/sentiance-authcode/backend/tests/testenv"
)

// lambdaRuntime is the environment of a Lambda runtime whose API is never
// reached: the configuration fails first.
const lambdaRuntime = "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9 "

// Bad configuration stops the function at start with one line naming the
// variable and exit code 2.
func TestBootstrapBadConfig(t *testing.T) {
	bootstrap := testenv.BuildBootstrap(t, "./functions/authcode")
	tests := []struct{ name, env, variable string }{
		{"no secret", "", "USER_LINK_SECRET_ID"},
		{"bad region", "USER_LINK_SECRET_ID=x SENTIANCE_REGION=mars", "SENTIANCE_REGION"},
		{"plain http upstream", "USER_LINK_SECRET_ID=x SENTIANCE_API_URL=http://example.com", "SENTIANCE_API_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testenv.CheckOneLineExit(t, lambdaRuntime+tt.env, tt.variable, bootstrap)
		})
	}
}

// The deployed artifact is only the Lambda: started outside the Lambda
// runtime, or with -local (local mode's old switch), it serves nothing and
// says in one line where local mode is.
func TestOnlyUnderTheLambdaRuntime(t *testing.T) {
	bootstrap := testenv.BuildBootstrap(t, "./functions/authcode")
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	local := "LOCAL_ADDR=" + addr + " USER_LINK_SECRET_ID=x"
	tests := []struct {
		name, env string
		args      []string
	}{
		{"no Lambda runtime", local, nil},
		{"-local", local, []string{"-local"}},
		{"-local under a Lambda runtime", lambdaRuntime + local, []string{"-local"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testenv.CheckOneLineExit(t, tt.env, "make run", bootstrap, tt.args...)
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				t.Fatalf("something listens on %s (LOCAL_ADDR)", addr)
			}
		})
	}
}
