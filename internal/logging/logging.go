// Package logging sets up log/slog for Ferry's processes.
package logging

import (
	"log/slog"
	"os"
	"strings"
)

// Setup installs a slog handler as the default before the config is read:
// JSON when FERRY_LOG_FORMAT is "json" (for log shippers), text otherwise;
// level from FERRY_LOG_LEVEL. Once the config is loaded, Configure
// applies its log section (which the same variables override).
func Setup(process string) *slog.Logger {
	return Configure(process, os.Getenv("FERRY_LOG_FORMAT"), os.Getenv("FERRY_LOG_LEVEL"))
}

// Configure installs the default handler: format "json" writes one JSON
// object per line (CloudWatch Logs Insights, Loki), anything else text;
// level is debug, info, warn or error (info when unreadable). Every line
// carries the process; the lines about a file carry its identity (file_id,
// partner, bucket, key, version_id), added where the file is known.
func Configure(process, format, level string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if strings.EqualFold(format, "json") {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	l := slog.New(h).With("process", process)
	slog.SetDefault(l)
	return l
}

// File is the identity every log line about a file carries, as key-value
// pairs for slog's With (and the Temporal SDK logger's): file_id,
// partner, bucket, key, version_id. Parts not known where the line is
// written (an audit entry knows only its file ID) are left out rather
// than logged empty.
func File(fileID, partner, bucket, key, versionID string) []any {
	var kv []any
	for _, a := range [][2]string{{"file_id", fileID}, {"partner", partner}, {"bucket", bucket}, {"key", key}, {"version_id", versionID}} {
		if a[1] != "" {
			kv = append(kv, a[0], a[1])
		}
	}
	return kv
}
