package apidocs

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/dop251/goja"
)

// The collection's scripts run in goja, one fresh runtime for each, after
// sandbox.js has given it the part of Postman's sandbox they use: pm.test,
// pm.expect(…).to.eql, pm.response (code, json(), to.have.status) in test
// scripts, pm.collectionVariables.get and set, pm.info.requestName,
// postman.setNextRequest and pm.execution.setNextRequest, and setTimeout.
// Reading any other member of pm throws, naming it.

//go:embed sandbox.js
var sandboxJS string

var sandboxProgram = sync.OnceValue(func() *goja.Program {
	return goja.MustCompile("sandbox.js", sandboxJS, true)
})

// scriptName is the name a script's positions are reported under.
const scriptName = "script"

// compile parses a script.
func compile(src string) (*goja.Program, error) {
	return goja.Compile(scriptName, src, false)
}

// sandbox is what the scripts of one request share: the request, its
// response (for test scripts), the collection's variables, and what the
// scripts asked of the runner.
type sandbox struct {
	request string
	code    int
	body    []byte
	vars    map[string]any
	sleep   func(time.Duration)
	// timeout is the JavaScript time a script may take, its timers' callbacks
	// included and the waits for them not; it is then interrupted.
	timeout  time.Duration
	tests    []TestResult
	next     *string // the request setNextRequest named; nil if not called
	nextStop bool    // setNextRequest(null): end the run
}

// timer is a callback setTimeout asked for, due at a time since the script
// started, as the script's waits count it. line is the script's line that
// called setTimeout.
type timer struct {
	due  time.Duration
	fn   goja.Callable
	args []goja.Value
	line int
}

// run runs a script of listen ("prerequest" or "test") and then, as
// Postman's sandbox does before it lets the run go on, its timers: each
// after waiting until it is due.
func (sb *sandbox) run(listen, src string) error {
	prg, err := compile(src)
	if err != nil {
		return err
	}
	rt := goja.New()
	var now time.Duration
	var timers []timer
	budget := sb.timeout
	// guard runs f within what is left of the budget. line is where to say
	// f was if it is interrupted before its first instruction, which has no
	// stack yet.
	guard := func(line int, f func() (goja.Value, error)) error {
		start := time.Now()
		watchdog := time.AfterFunc(budget, func() {
			rt.Interrupt(fmt.Errorf("the script ran for more than %v: a loop that does not end?", sb.timeout))
		})
		_, err := f()
		if !watchdog.Stop() {
			// It fired, perhaps after f returned: the flag must not
			// interrupt the next call at its entry.
			rt.ClearInterrupt()
		}
		budget -= time.Since(start)
		return scriptError(err, line)
	}

	host := map[string]any{
		"listen":      listen,
		"requestName": sb.request,
		"get": func(name string) goja.Value {
			v, ok := sb.vars[name]
			if !ok {
				return goja.Undefined()
			}
			return rt.ToValue(v)
		},
		"set": func(name string, v goja.Value) {
			x := v.Export()
			if n, ok := x.(int64); ok {
				x = float64(n) // JavaScript has one kind of number
			}
			sb.vars[name] = x
		},
		"setNextRequest": func(v goja.Value) {
			if goja.IsNull(v) {
				sb.next, sb.nextStop = nil, true
				return
			}
			name, ok := v.Export().(string)
			if !ok {
				panic(rt.NewTypeError("setNextRequest takes a request's name or null, not %s", v))
			}
			sb.next, sb.nextStop = &name, false
		},
		"setTimeout": func(call goja.FunctionCall) goja.Value {
			fn, ok := goja.AssertFunction(call.Argument(0))
			if !ok {
				panic(rt.NewTypeError("setTimeout: %s is not a function", call.Argument(0)))
			}
			ms := call.Argument(1).ToFloat()
			if !(ms > 0) { // NaN too
				ms = 0
			}
			var args []goja.Value // a copy: call.Arguments is the runtime's stack
			if len(call.Arguments) > 2 {
				args = slices.Clone(call.Arguments[2:])
			}
			timers = append(timers, timer{now + time.Duration(ms*float64(time.Millisecond)), fn, args, scriptLine(rt.CaptureCallStack(0, nil))})
			return rt.ToValue(len(timers))
		},
		"record": func(name string, failure goja.Value) {
			var err error
			if !goja.IsNull(failure) {
				err = errors.New(failure.String())
			}
			sb.tests = append(sb.tests, TestResult{Request: sb.request, Name: name, Err: err})
		},
	}
	if listen == "test" {
		host["code"], host["body"] = sb.code, string(sb.body)
	}
	setup, err := rt.RunProgram(sandboxProgram())
	if err != nil {
		return err
	}
	install, _ := goja.AssertFunction(setup)
	if _, err := install(goja.Undefined(), rt.ToValue(host)); err != nil {
		return err
	}

	if err := guard(1, func() (goja.Value, error) { return rt.RunProgram(prg) }); err != nil {
		return err
	}
	for len(timers) > 0 {
		// The earliest due, the first set of those due together.
		i := 0
		for j := range timers {
			if timers[j].due < timers[i].due {
				i = j
			}
		}
		t := timers[i]
		timers = slices.Delete(timers, i, i+1)
		if t.due > now {
			sb.sleep(t.due - now)
			now = t.due
		}
		if err := guard(t.line, func() (goja.Value, error) { return t.fn(goja.Undefined(), t.args...) }); err != nil {
			return err
		}
	}
	return nil
}

// scriptError reports what ended a script: the exception, at the line of
// the script it came from (not of the sandbox). An interruption with no
// line of the script on its stack came before the call's first
// instruction: it is reported at entry, the line the call was made from.
func scriptError(err error, entry int) error {
	var msg string
	var stack []goja.StackFrame
	var interrupted *goja.InterruptedError
	var exception *goja.Exception
	switch {
	case errors.As(err, &interrupted):
		msg, stack = fmt.Sprint(interrupted.Value()), interrupted.Stack()
	case errors.As(err, &exception):
		msg, stack = exception.Value().String(), exception.Stack()
	default:
		return err
	}
	line := scriptLine(stack)
	if line == 0 && interrupted != nil {
		line = entry
	}
	if line == 0 {
		return errors.New(msg)
	}
	return fmt.Errorf("line %d: %s", line, msg)
}

// scriptLine is the line of the innermost frame of the script on stack, or
// 0 if it has none.
func scriptLine(stack []goja.StackFrame) int {
	for _, f := range stack {
		if f.SrcName() == scriptName {
			return f.Position().Line
		}
	}
	return 0
}
