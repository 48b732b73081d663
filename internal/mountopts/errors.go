package mountopts

// UsageError is a problem with what the user asked for (bad option, bad
// device, missing region). Its message is shown as is; the CLI exits 1.
type UsageError struct {
	Msg string
}

func (e *UsageError) Error() string { return e.Msg }

func usagef(msg string) *UsageError { return &UsageError{Msg: msg} }
