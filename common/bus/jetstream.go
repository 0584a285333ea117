package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ticketing.dev/common/events"
	"ticketing.dev/common/requestid"
)

// Stream is the JetStream stream that holds every subject of the app.
const Stream = "ticketing"

// StreamMaxBytes bounds the stream: once it holds that much, its oldest
// events are dropped to make room, as NATS Streaming drops a channel's
// oldest past its limits, rather than refusing new ones. It fits the 1 GiB
// file store each server of the Kubernetes cluster has.
const StreamMaxBytes = 768 << 20

// DuplicateWindow is how long the stream remembers an event's id
// (Nats-Msg-Id): a relay that publishes an event again within it, after a
// crash between the publish and the removal, adds no second copy.
const DuplicateWindow = 2 * time.Minute

// jetStreamTransport is NATS JetStream: one stream of every subject, file
// storage, a durable pull consumer per queue group and subject with
// explicit acks. Events carry their id as Nats-Msg-Id, which the stream
// de-duplicates, and their request id as a header.
type jetStreamTransport struct {
	js       jetstream.JetStream
	refusals *refusals // the Conn's
}

func dialJetStream(cfg Config, c *Conn) (*jetStreamTransport, error) {
	js, err := jetstream.New(c.nc,
		jetstream.WithPublishAsyncTimeout(publishTimeout),
		jetstream.WithDefaultTimeout(publishTimeout),
	)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	subjects := make([]string, 0, len(events.Subjects()))
	for _, s := range events.Subjects() {
		subjects = append(subjects, string(s))
	}
	cfgStream := jetstream.StreamConfig{
		Name:       Stream,
		Subjects:   subjects,
		Retention:  jetstream.LimitsPolicy,
		Storage:    jetstream.FileStorage,
		Replicas:   max(cfg.Replicas, 1),
		Duplicates: DuplicateWindow,
		MaxBytes:   StreamMaxBytes,
		Discard:    jetstream.DiscardOld,
	}
	// Every service makes sure the stream exists as this one describes
	// it; the same description makes the same stream, whoever is first.
	if err := ensureStream(ctx, js, cfgStream); err != nil {
		return nil, fmt.Errorf("stream %s: %w", Stream, err)
	}
	return &jetStreamTransport{js: js, refusals: &c.refusals}, nil
}

// ensureStream creates the stream want describes, or updates it where it
// differs (a release that changed it), and leaves it alone otherwise:
// an update while another service creates its consumer races inside the
// server's file store, and a create of a stream that exists counts its
// size twice against the server's storage limit, which can refuse it.
func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) error {
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err = js.CreateStream(ctx, want); !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return err
		}
		s, err = js.Stream(ctx, want.Name) // another service was first
	}
	if err != nil {
		return err
	}
	if sameStream(s.CachedInfo().Config, want) {
		return nil
	}
	_, err = js.UpdateStream(ctx, want)
	return err
}

// sameStream reports whether have is configured as want says, in the
// fields want sets; the server fills in the others.
func sameStream(have, want jetstream.StreamConfig) bool {
	return slices.Equal(slices.Sorted(slices.Values(have.Subjects)), slices.Sorted(slices.Values(want.Subjects))) &&
		have.Retention == want.Retention && have.Storage == want.Storage &&
		have.Replicas == want.Replicas && have.Duplicates == want.Duplicates &&
		have.MaxBytes == want.MaxBytes && have.Discard == want.Discard
}

func (t *jetStreamTransport) natsSubject(subject string) string { return subject }

func (t *jetStreamTransport) publish(ctx context.Context, out outgoing, refused <-chan error) error {
	msg := nats.NewMsg(out.subject)
	msg.Data = out.data
	if out.requestID != "" {
		msg.Header.Set(requestid.Header, out.requestID)
	}
	var opts []jetstream.PublishOpt
	if out.id != "" {
		opts = append(opts, jetstream.WithMsgID(out.id))
	}
	f, err := t.js.PublishMsgAsync(msg, opts...)
	if err != nil {
		return err
	}
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return err
	case err := <-refused:
		return fmt.Errorf("%w: %w", ErrNotPermitted, err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ConsumerName is the durable consumer of group's events of subject: the
// group's name and the subject's, such as orders-service_ticket-created
// (a consumer serves one subject, and a name has no colon).
func ConsumerName(group string, subject events.Subject) string {
	return group + "_" + strings.ReplaceAll(string(subject), ":", "-")
}

func (t *jetStreamTransport) subscribe(ctx context.Context, subject, group string, ackWait time.Duration, receive func(*message)) (subscription, error) {
	name := ConsumerName(group, events.Subject(subject))
	ctx, cancel := context.WithTimeoutCause(ctx, publishTimeout, errors.New("no answer from the server"))
	defer cancel()
	// A request the server does not permit gets no reply, only an error
	// of the server's apart from it (see Conn.asyncError): stop waiting
	// for the reply once that arrives.
	create := "$JS.API.CONSUMER.CREATE." + Stream + "." + name + "." + subject
	refused := t.refusals.wait(create)
	defer t.refusals.done(create, refused)
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go func() {
		select {
		case err := <-refused:
			stop(fmt.Errorf("%w: %w", ErrNotPermitted, err))
		case <-ctx.Done():
		}
	}()
	// The server never stops delivering an event by itself (MaxDeliver
	// -1): the Conn's dead-letter rule decides, as it does with NATS
	// Streaming, so that an event whose dead letter could not be stored
	// comes back rather than being dropped.
	cons, err := t.js.CreateOrUpdateConsumer(ctx, Stream, jetstream.ConsumerConfig{
		Durable:       name,
		FilterSubject: subject,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: MaxInflight,
		MaxDeliver:    -1,
	})
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return nil, fmt.Errorf("consumer %s: %w: %w", name, err, cause)
		}
		return nil, fmt.Errorf("consumer %s: %w", name, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		receive(jetStreamMessage(m))
	}, jetstream.PullMaxMessages(MaxInflight))
	if err != nil {
		return nil, err
	}
	return jetStreamSubscription{cc}, nil
}

// jetStreamMessage returns m as the listeners see it. Metadata comes from
// the reply subject the server gave m; should it not parse, the delivery
// counts as a first one at an unknown sequence.
func jetStreamMessage(m jetstream.Msg) *message {
	msg := &message{data: m.Data(), deliveries: 1, ack: m.Ack}
	if md, err := m.Metadata(); err == nil {
		msg.seq = md.Sequence.Stream
		msg.deliveries = int(md.NumDelivered)
		msg.published = md.Timestamp.UTC()
	}
	if h := m.Headers(); h != nil {
		msg.requestID = h.Get(requestid.Header)
	}
	return msg
}

type jetStreamSubscription struct{ cc jetstream.ConsumeContext }

// close stops pulling; the durable consumer stays on the server, so that
// the queue group resumes where it left off, and what was pulled but not
// acknowledged is delivered again after its ack wait.
func (s jetStreamSubscription) close() error {
	s.cc.Stop()
	return nil
}

// close has nothing to end: JetStream keeps no client session.
func (t *jetStreamTransport) close() error { return nil }
