package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/stan.go"
)

// stanTransport is NATS Streaming, through stan.go on the Conn's NATS
// connection. It has no headers and no de-duplication: an event's id and
// request id do not travel.
type stanTransport struct {
	sc        stan.Conn
	pubPrefix string // of the NATS subjects events are published on
}

func dialSTAN(cfg Config, c *Conn) (*stanTransport, error) {
	maxOut := pingMaxOut
	if cfg.LostAfter > 0 {
		maxOut = max(minPingMaxOut, int((cfg.LostAfter+time.Second-1)/time.Second))
	}
	sc, err := stan.Connect(cfg.ClusterID, cfg.ClientID,
		stan.NatsConn(c.nc),
		stan.ConnectWait(2*time.Second),
		stan.PubAckWait(publishTimeout),
		stan.Pings(pingInterval, maxOut),
		stan.SetConnectionLostHandler(func(_ stan.Conn, err error) {
			c.markLost(err)
		}),
	)
	if err != nil {
		return nil, err
	}
	return &stanTransport{sc: sc, pubPrefix: "_STAN.pub." + cfg.ClusterID + "."}, nil
}

func (t *stanTransport) natsSubject(subject string) string { return t.pubPrefix + subject }

func (t *stanTransport) publish(ctx context.Context, out outgoing, refused <-chan error) error {
	acked := make(chan error, 1)
	if _, err := t.sc.PublishAsync(out.subject, out.data, func(_ string, err error) { acked <- err }); err != nil {
		return err
	}
	select {
	case err := <-acked:
		return err
	case err := <-refused:
		return fmt.Errorf("%w: %w", ErrNotPermitted, err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *stanTransport) subscribe(_ context.Context, subject, group string, ackWait time.Duration, receive func(*message)) (subscription, error) {
	sub, err := t.sc.QueueSubscribe(subject, group, func(m *stan.Msg) {
		receive(&message{
			data:       m.Data,
			seq:        m.Sequence,
			deliveries: int(m.RedeliveryCount) + 1,
			published:  time.Unix(0, m.Timestamp).UTC(),
			ack:        m.Ack,
		})
	},
		stan.DurableName(group),
		stan.DeliverAllAvailable(),
		stan.SetManualAckMode(),
		stan.AckWait(ackWait),
		stan.MaxInflight(MaxInflight),
	)
	if err != nil {
		return nil, err
	}
	return stanSubscription{sub}, nil
}

type stanSubscription struct{ sub stan.Subscription }

// close closes the durable subscription without unsubscribing it, so
// that the queue group resumes where it left off.
func (s stanSubscription) close() error {
	if err := s.sub.Close(); err != nil && !errors.Is(err, stan.ErrConnectionClosed) {
		return err
	}
	return nil
}

func (t *stanTransport) close() error {
	if err := t.sc.Close(); err != nil && !errors.Is(err, stan.ErrConnectionClosed) {
		return err
	}
	return nil
}
