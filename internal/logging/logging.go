// Package logging sets up log/slog for Ferry's processes.
package logging

import (
	"log/slog"
	"os"
	"strings"
)

// Setup installs a slog handler as the default: JSON when FERRY_LOG_FORMAT
// is "json" (for log shippers), text otherwise; level from FERRY_LOG_LEVEL.
func Setup(process string) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(os.Getenv("FERRY_LOG_LEVEL"))); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if strings.EqualFold(os.Getenv("FERRY_LOG_FORMAT"), "json") {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	l := slog.New(h).With("process", process)
	slog.SetDefault(l)
	return l
}
