package linuxhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Runner runs a command and reports its output and exit status. A command
// that ran and exited returns err == nil whatever its exit code; err means
// it could not run, was killed, or ctx ended. The lab's Host satisfies it,
// so device code runs unchanged inside a network namespace.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) (stdout, stderr []byte, exitCode int, err error)
}

// ExecRunner runs commands on the local machine.
type ExecRunner struct {
	// Env is added to the process environment ("K=V").
	Env []string
}

// Run implements Runner. Output goes to unlinked temp files rather than
// pipes: wg-quick forks wireguard-go and birdc-less daemons inherit stdout,
// and with pipes Wait would block until the daemon exits.
func (r ExecRunner) Run(ctx context.Context, name string, args ...string) ([]byte, []byte, int, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if len(r.Env) > 0 {
		cmd.Env = append(os.Environ(), r.Env...)
	}
	cmd.WaitDelay = 2 * time.Second
	outf, err := tempOut()
	if err != nil {
		return nil, nil, -1, err
	}
	defer outf.Close()
	errf, err := tempOut()
	if err != nil {
		return nil, nil, -1, err
	}
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = outf, errf
	runErr := cmd.Run()
	stdout, _ := readBack(outf)
	stderr, _ := readBack(errf)
	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		return stdout, stderr, code, fmt.Errorf("%s: %w", name, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(runErr, &ee) && code >= 0 {
		runErr = nil
	}
	if runErr != nil {
		return stdout, stderr, code, fmt.Errorf("%s: %w", name, runErr)
	}
	return stdout, stderr, code, nil
}

func tempOut() (*os.File, error) {
	f, err := os.CreateTemp("", ".tether-out-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}

func readBack(f *os.File) ([]byte, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// run runs a command and turns a non-zero exit into an error that carries
// the tool's own message, which is what an operator needs to see.
func run(ctx context.Context, r Runner, name string, args ...string) ([]byte, error) {
	out, errb, code, err := r.Run(ctx, name, args...)
	if err != nil {
		return out, fmt.Errorf("%s: %w", cmdline(name, args), err)
	}
	if code != 0 {
		return out, &ToolError{Cmd: cmdline(name, args), Code: code, Output: toolMessage(out, errb)}
	}
	return out, nil
}

// ToolError is a command that ran and failed.
type ToolError struct {
	Cmd    string
	Code   int
	Output string
}

func (e *ToolError) Error() string {
	if e.Output == "" {
		return fmt.Sprintf("%s: exit %d", e.Cmd, e.Code)
	}
	return fmt.Sprintf("%s: exit %d: %s", e.Cmd, e.Code, e.Output)
}

func toolMessage(out, errb []byte) string {
	msg := strings.TrimSpace(string(errb))
	if o := strings.TrimSpace(string(out)); o != "" {
		if msg != "" {
			msg += "; "
		}
		msg += o
	}
	const max = 2000
	if len(msg) > max {
		msg = msg[:max] + "…"
	}
	return msg
}

func cmdline(name string, args []string) string {
	if len(args) == 0 {
		return name
	}
	// Shell scripts are long; their first argument is the script itself.
	if (name == "sh" || name == "bash") && len(args) >= 2 && args[0] == "-c" {
		return name + " -c … " + strings.Join(args[2:], " ")
	}
	return name + " " + strings.Join(args, " ")
}
