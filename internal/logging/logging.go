// Package logging builds the function's slog logger: JSON lines on stdout at
// the level Lambda's advanced logging controls set (AWS_LAMBDA_LOG_LEVEL).
package logging

import (
	"io"
	"log/slog"
	"strings"
)

// New returns a JSON logger writing to w at the level named by levelName
// (TRACE and DEBUG map to debug, WARN, ERROR and FATAL as named; anything
// else, including empty, is INFO).
func New(w io.Writer, levelName string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: Level(levelName)}))
}

// Level maps a Lambda log level name to a slog level.
func Level(name string) slog.Level {
	switch strings.ToUpper(strings.TrimSpace(name)) {
	case "TRACE", "DEBUG":
		return slog.LevelDebug
	case "WARN":
		return slog.LevelWarn
	case "ERROR", "FATAL":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}
