// Package deployment holds no code, only the tests that prove the deploy
// path without an AWS account: template.yaml linted and expanded as SAM
// would, checked against what the code reads and serves; the Makefile build
// target `sam build` calls; and openapi.yaml against the handler's routes.
package deployment
