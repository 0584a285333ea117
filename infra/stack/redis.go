package stack

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"

	"github.com/alicebob/miniredis/v2"

	"ticketing.dev/common/embedded"
)

// redisServer is how the stack started redis-server, to start it again.
type redisServer struct {
	bin, addr, dir string
	args           []string
}

// startRedis starts redis-server when it is installed, else miniredis.
// A real server keeps its data in dir when persist is set, so scheduled
// expirations survive a restart of the stack.
func (s *Stack) startRedis(ctx context.Context, dir string, persist bool) (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		s.mini = miniredis.NewMiniRedis()
		if err := s.mini.StartAddr("127.0.0.1:0"); err != nil {
			return "", fmt.Errorf("redis (embedded): %w", err)
		}
		s.status("redis: embedded (install redis-server to keep pending expirations across restarts)")
		return s.mini.Addr(), nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	port, err := embedded.FreePort("127.0.0.1")
	if err != nil {
		return "", err
	}
	args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir, "--save", ""}
	if persist {
		args = append(args, "--appendonly", "yes")
	} else {
		args = append(args, "--appendonly", "no")
	}
	s.redis = redisServer{bin: bin, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, args: args}
	p, err := startProc("redis", bin, args, os.Environ(), s.out)
	if err != nil {
		return "", err
	}
	s.watch(p)
	if err := waitTCP(ctx, p, s.redis.addr, s.cfg.ReadyTimeout); err != nil {
		return "", err
	}
	s.status("redis: %s (redis-server)", s.redis.addr)
	return s.redis.addr, nil
}

// RedisAddr is Redis's host:port, where expiration keeps its tasks.
func (s *Stack) RedisAddr() string {
	if s.mini != nil {
		return s.mini.Addr()
	}
	return s.redis.addr
}

// RestartRedisEmpty kills Redis and starts it again on the same address
// with no data, as a Redis pod rescheduled without its volume would come
// back: every scheduled expiration is gone. The embedded Redis is emptied
// in place.
func (s *Stack) RestartRedisEmpty(ctx context.Context) error {
	if s.mini != nil {
		s.mini.FlushAll()
		s.status("redis: emptied")
		return nil
	}
	old := s.current("redis")
	if old == nil {
		return fmt.Errorf("stack: restart redis: it was never started")
	}
	s.kill(old)
	if err := os.RemoveAll(s.redis.dir); err != nil {
		return fmt.Errorf("stack: restart redis: %w", err)
	}
	if err := os.MkdirAll(s.redis.dir, 0o755); err != nil {
		return fmt.Errorf("stack: restart redis: %w", err)
	}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return fmt.Errorf("stack: restart redis: the stack is stopping")
	}
	p, err := startProc("redis", s.redis.bin, s.redis.args, os.Environ(), s.out)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("stack: restart redis: %w", err)
	}
	s.put(p)
	s.mu.Unlock()
	go s.await(p)
	if err := waitTCP(ctx, p, s.redis.addr, s.cfg.ReadyTimeout); err != nil {
		return fmt.Errorf("stack: restart redis: %w", err)
	}
	s.status("redis: restarted empty at %s", s.redis.addr)
	return nil
}
