package lifecycle_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/lifecycle"
)

// mainEnv makes the test binary call lifecycle.Main with the run it names
// instead of running the tests, so that a test can watch its exit.
const mainEnv = "LIFECYCLE_TEST_MAIN"

func TestMain(m *testing.M) {
	switch os.Getenv(mainEnv) {
	case "fail":
		lifecycle.Main("svc", func(context.Context, func(string) string, io.Writer) error {
			return errors.New("boom")
		})
		os.Exit(0)
	case "serve":
		lifecycle.Main("svc", func(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
			fmt.Fprintln(stdout, "serving", getenv(mainEnv))
			<-ctx.Done()
			fmt.Fprintln(stdout, "stopped")
			return nil
		})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// mainProcess is the test binary run as a service through lifecycle.Main.
func mainProcess(t *testing.T, run string) *exec.Cmd {
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainEnv+"="+run)
	return cmd
}

func TestMain_PrintsTheErrorAfterTheNameAndExitsWithOne(t *testing.T) {
	cmd := mainProcess(t, "fail")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Equal(t, "svc: boom\n", stderr.String())
}

func TestMain_SIGTERMEndsRunsContextAndExitsCleanly(t *testing.T) {
	cmd := mainProcess(t, "serve")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := bufio.NewScanner(out)
	require.True(t, lines.Scan())
	assert.Equal(t, "serving serve", lines.Text(), "run reads the process's environment")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.True(t, lines.Scan())
	assert.Equal(t, "stopped", lines.Text())
	require.NoError(t, cmd.Wait())
}
