// Command echo is a tiny Lambda for the testenv self-test: it answers with
// the event it received, the value of $ECHO and the names of the environment
// variables it sees, so the test can check what reaches a function under
// aws-lambda-rie.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

type reply struct {
	Event    json.RawMessage `json:"event"`
	Echo     string          `json:"echo"`
	EnvNames []string        `json:"env_names"`
	Deadline float64         `json:"deadline_seconds"`
}

func handle(ctx context.Context, event json.RawMessage) (reply, error) {
	// A line on stderr, so the test can see the function's output in Logs.
	fmt.Fprintf(os.Stderr, "echo: got %d bytes\n", len(event))
	var cmd struct {
		Fail  string `json:"fail"`
		Sleep string `json:"sleep"`
	}
	_ = json.Unmarshal(event, &cmd)
	if cmd.Fail != "" {
		return reply{}, errors.New(cmd.Fail)
	}
	if cmd.Sleep != "" {
		d, _ := time.ParseDuration(cmd.Sleep)
		time.Sleep(d)
	}
	var names []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	sort.Strings(names)
	var left float64
	if dl, ok := ctx.Deadline(); ok {
		left = time.Until(dl).Seconds()
	}
	return reply{Event: event, Echo: os.Getenv("ECHO"), EnvNames: names, Deadline: left}, nil
}

func main() {
	lambda.Start(handle)
}
