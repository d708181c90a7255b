// Command answer is a stand-in for a broken build of the function: it
// answers every event with the status in $ANSWER_STATUS, as a problem or,
// for 200, as a code would look, so the pre-traffic check can be shown to
// refuse it.
package main

import (
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	status, _ := strconv.Atoi(os.Getenv("ANSWER_STATUS"))
	lambda.Start(func() (events.APIGatewayV2HTTPResponse, error) {
		if status == 200 {
			return events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"},
				Body: `{"authentication_code":"standin","auth_code":"standin"}`}, nil
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/problem+json"},
			Body: `{"type":"urn:sentiance-auth-code:problem:internal","status":` + strconv.Itoa(status) + `}`}, nil
	})
}
