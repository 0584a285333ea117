package load

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CommandsMetric is the counter of MongoDB commands every service serves
// on /metrics at its DEBUG_ADDR, labelled by collection and command.
const CommandsMetric = "ticketing_mongodb_commands_total"

// CommandCount is how many MongoDB commands of one kind a service sent
// while a step ran and its events were handled.
type CommandCount struct {
	Service    string
	Collection string
	Command    string
	Count      float64
}

// Overhead reports whether command is one the driver sends for its
// connections rather than for a request: handshakes, heartbeats,
// authentication, ending sessions, and the pings of every /readyz. They
// are counted but never charged to a step's requests.
func Overhead(command string) bool {
	switch command {
	case "ping", "hello", "isMaster", "ismaster", "buildInfo", "buildinfo", "endSessions",
		"saslStart", "saslContinue", "authenticate", "getnonce", "getParameter":
		return true
	}
	return false
}

// metricSample is one sample of the Prometheus text format.
type metricSample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseMetrics reads the Prometheus text exposition format (version
// 0.0.4): comments and blank lines are skipped, every other line is a
// sample `name{label="value",...} value [timestamp]`.
func parseMetrics(r io.Reader) ([]metricSample, error) {
	var out []metricSample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %w", n, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return out, nil
}

func parseSample(line string) (metricSample, error) {
	s := metricSample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ \t")
	if i <= 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	s.name, line = line[:i], line[i:]
	if line[0] == '{' {
		var err error
		if line, err = parseLabels(line[1:], s.labels); err != nil {
			return s, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	fields := strings.Fields(line)
	if len(fields) == 0 || len(fields) > 2 {
		return s, fmt.Errorf("%s: want a value and an optional timestamp, got %q", s.name, line)
	}
	v, err := parseValue(fields[0])
	if err != nil {
		return s, fmt.Errorf("%s: %w", s.name, err)
	}
	s.value = v
	return s, nil
}

// parseLabels reads `name="value",...}` into labels and returns what
// follows the closing brace.
func parseLabels(rest string, labels map[string]string) (string, error) {
	for {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			return "", errors.New("unterminated labels")
		}
		if rest[0] == '}' {
			return rest[1:], nil
		}
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return "", fmt.Errorf("bad label in %q", rest)
		}
		name := strings.TrimSpace(rest[:eq])
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		if rest == "" || rest[0] != '"' {
			return "", fmt.Errorf("label %s: value not quoted", name)
		}
		var b strings.Builder
		i := 1
		for ; i < len(rest) && rest[i] != '"'; i++ {
			c := rest[i]
			if c == '\\' && i+1 < len(rest) {
				i++
				switch rest[i] {
				case 'n':
					c = '\n'
				default: // \\ and \"
					c = rest[i]
				}
			}
			b.WriteByte(c)
		}
		if i == len(rest) {
			return "", fmt.Errorf("label %s: unterminated value", name)
		}
		labels[name] = b.String()
		rest = rest[i+1:]
	}
}

func parseValue(s string) (float64, error) {
	switch s {
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("bad value %q", s)
	}
	return v, nil
}

// commandKey names one kind of command of a service.
type commandKey struct{ collection, command string }

// commandCounter reads CommandsMetric out of a service's samples, summed
// over any label other than collection and command; found is false when
// the service does not serve it.
func commandCounter(samples []metricSample) (counts map[commandKey]float64, found bool) {
	counts = map[commandKey]float64{}
	for _, s := range samples {
		if s.name != CommandsMetric {
			continue
		}
		found = true
		counts[commandKey{s.labels["collection"], s.labels["command"]}] += s.value
	}
	return counts, found
}

// commandDelta returns what each service's counters rose by from before to
// after, sorted, without the kinds that did not change. A counter lower
// after than before belongs to a service restarted meanwhile: it counts
// from zero again, so its value after is the rise.
func commandDelta(before, after map[string]map[commandKey]float64) []CommandCount {
	var out []CommandCount
	for svc, a := range after {
		b, ok := before[svc]
		if !ok {
			continue
		}
		for k, v := range a {
			d := v - b[k]
			if d < 0 {
				d = v
			}
			if d > 0 {
				out = append(out, CommandCount{Service: svc, Collection: k.collection, Command: k.command, Count: d})
			}
		}
	}
	slices.SortFunc(out, func(x, y CommandCount) int {
		return strings.Compare(x.Service+"\x00"+x.Collection+"\x00"+x.Command, y.Service+"\x00"+y.Collection+"\x00"+y.Command)
	})
	return out
}

// scrapeTimeout bounds the read of one service's metrics.
const scrapeTimeout = 5 * time.Second

// scrapeCommands reads the commands counter of every service in addrs, by
// name. A service whose metrics cannot be read is left out, and its error
// returned joined with the others'; one that serves no such counter (it
// has no database, or counts nothing yet) counts zero. counted says
// whether any service served it.
func scrapeCommands(ctx context.Context, client *http.Client, addrs map[string]string) (counts map[string]map[commandKey]float64, counted bool, err error) {
	counts = make(map[string]map[commandKey]float64, len(addrs))
	var errs []error
	for _, name := range sortedKeys(addrs) {
		c, found, err := scrapeOne(ctx, client, addrs[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		counts[name] = c
		counted = counted || found
	}
	return counts, counted, errors.Join(errs...)
}

func scrapeOne(ctx context.Context, client *http.Client, addr string) (map[commandKey]float64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	url := "http://" + addr + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, false, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	samples, err := parseMetrics(resp.Body)
	if err != nil {
		return nil, false, fmt.Errorf("GET %s: %w", url, err)
	}
	counts, found := commandCounter(samples)
	return counts, found, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
