// Package logging builds the zap logger that writes the EFS helper's log
// files (mount.log, mount-watchdog.log) in the helper's line format, so the
// lines users and scripts grep for keep their shape:
//
//	2023-01-27 01:26:27 UTC - INFO - Successfully mounted fs-12345678.efs.us-east-1.amazonaws.com at /mnt/efs
//
// Structured fields follow the message as JSON, after another " - ".
package logging

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gopkg.in/natefinch/lumberjack.v2"
)

// Log file names, as the helper's.
const (
	MountLogName    = "mount.log"
	WatchdogLogName = "mount-watchdog.log"
)

// LogConfig says where and what to log; the numbers come from [DEFAULT] of
// the config file.
type LogConfig struct {
	Dir       string // created if missing
	FileName  string // MountLogName or WatchdogLogName
	Level     string // logging_level: DEBUG, INFO, WARNING, ERROR, CRITICAL
	MaxBytes  int64  // logging_max_bytes: rotate when the file would exceed it
	FileCount int    // logging_file_count: rotated files kept
	// Debug forces DEBUG (the -v flag).
	Debug bool
	// Console, when set, gets every line too: a mount in the foreground
	// (-f) shows its log on the terminal, where its user is looking.
	Console io.Writer
	// Clock stamps entries; nil means the system clock (tests fix it).
	Clock zapcore.Clock
}

// New returns a logger writing to cfg.Dir/cfg.FileName with size rotation,
// and a function that flushes and closes the file.
func New(cfg LogConfig) (*zap.Logger, func(), error) {
	level, err := ParseLevel(cfg.Level)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Debug {
		level = zapcore.DebugLevel
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("create log directory: %w", err)
	}
	w := &lumberjack.Logger{
		Filename:   filepath.Join(cfg.Dir, cfg.FileName),
		MaxSize:    maxSizeMB(cfg.MaxBytes),
		MaxBackups: cfg.FileCount,
	}
	core := zapcore.NewCore(NewEncoder(), zapcore.AddSync(w), level)
	if cfg.Console != nil {
		core = zapcore.NewTee(core, zapcore.NewCore(NewEncoder(), zapcore.Lock(zapcore.AddSync(cfg.Console)), level))
	}
	opts := []zap.Option{zap.ErrorOutput(zapcore.Lock(zapcore.AddSync(discard{})))}
	if cfg.Clock != nil {
		opts = append(opts, zap.WithClock(cfg.Clock))
	}
	logger := zap.New(core, opts...)
	closeFn := func() {
		_ = logger.Sync()
		_ = w.Close()
	}
	return logger, closeFn, nil
}

// maxSizeMB converts logging_max_bytes to lumberjack's unit (MiB), rounding
// up: lumberjack cannot rotate below 1 MiB, and the helper's default is 1 MiB.
func maxSizeMB(b int64) int {
	const mib = 1 << 20
	if b <= 0 {
		return 1
	}
	return int((b + mib - 1) / mib)
}

// ParseLevel maps the helper's Python level names to zap levels.
func ParseLevel(s string) (zapcore.Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "DEBUG":
		return zapcore.DebugLevel, nil
	case "INFO", "":
		return zapcore.InfoLevel, nil
	case "WARNING", "WARN":
		return zapcore.WarnLevel, nil
	case "ERROR":
		return zapcore.ErrorLevel, nil
	case "CRITICAL":
		return zapcore.DPanicLevel, nil
	}
	return zapcore.InfoLevel, fmt.Errorf("unknown logging level %q (want DEBUG, INFO, WARNING, ERROR or CRITICAL)", s)
}

// NewEncoder returns the encoder for the helper's line format:
// "<UTC time> - <LEVEL> - <message>[ - {fields}]".
func NewEncoder() zapcore.Encoder {
	return zapcore.NewConsoleEncoder(zapcore.EncoderConfig{
		TimeKey:          "time",
		LevelKey:         "level",
		MessageKey:       "msg",
		NameKey:          "logger",
		ConsoleSeparator: " - ",
		LineEnding:       zapcore.DefaultLineEnding,
		EncodeTime:       encodeTime,
		EncodeLevel:      encodeLevel,
		EncodeDuration:   zapcore.StringDurationEncoder,
		EncodeName:       zapcore.FullNameEncoder,
	})
}

func encodeTime(t time.Time, enc zapcore.PrimitiveArrayEncoder) {
	enc.AppendString(t.UTC().Format("2006-01-02 15:04:05") + " UTC")
}

// encodeLevel uses Python's level names, which the helper's logs show.
func encodeLevel(l zapcore.Level, enc zapcore.PrimitiveArrayEncoder) {
	switch l {
	case zapcore.DebugLevel:
		enc.AppendString("DEBUG")
	case zapcore.InfoLevel:
		enc.AppendString("INFO")
	case zapcore.WarnLevel:
		enc.AppendString("WARNING")
	case zapcore.ErrorLevel:
		enc.AppendString("ERROR")
	default:
		enc.AppendString("CRITICAL")
	}
}

// discard swallows zap's internal errors: a failing log file must not
// write to a daemon's closed stderr.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
