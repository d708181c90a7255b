// Command proxy is the floor of the warm end-to-end figure: an aws-lambda-go
// function that makes one call to Sentiance's POST /users/auth-code with one
// reused http.Client and answers with what came back, nothing else. It reads
// PROXY_URL (the base URL), PROXY_KEY (the API key) and PROXY_EXTERNAL_ID.
package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sentiance-authcode/backend/internal/sentiance"
)

func main() {
	client := &http.Client{}
	url := os.Getenv("PROXY_URL") + sentiance.Path
	auth := "Bearer " + os.Getenv("PROXY_KEY")
	body := `{"external_id":"` + os.Getenv("PROXY_EXTERNAL_ID") + `"}`
	lambda.Start(func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		return events.APIGatewayV2HTTPResponse{
			StatusCode: resp.StatusCode,
			Headers:    map[string]string{"Content-Type": "application/json"},
			Body:       string(out),
		}, nil
	})
}
