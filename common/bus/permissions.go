package bus

import (
	"slices"

	"ticketing.dev/common/events"
)

// Grant is what a user of the bus may do: publish the subjects in Publish
// and consume those in Consume, in queue group Group.
type Grant struct {
	Publish []events.Subject
	Consume []events.Subject
	// Group is the user's durable queue group, such as orders-service;
	// on JetStream it names the user's consumers (ConsumerName).
	Group string
}

// ServiceGrants returns each service's grant, by its name, which is also
// its user on the NATS server: a service publishes only its own subjects
// and consumes those it listens to. The local stack and the Kubernetes
// manifests (infra/k8s/base/nats.yaml) give each service these permissions.
func ServiceGrants() map[string]Grant {
	return map[string]Grant{
		"tickets": {
			Group:   "tickets-service",
			Publish: []events.Subject{events.SubjectTicketCreated, events.SubjectTicketUpdated},
			Consume: []events.Subject{events.SubjectOrderCreated, events.SubjectOrderCancelled},
		},
		"orders": {
			Group:   "orders-service",
			Publish: []events.Subject{events.SubjectOrderCreated, events.SubjectOrderCancelled},
			Consume: []events.Subject{events.SubjectTicketCreated, events.SubjectTicketUpdated,
				events.SubjectExpirationComplete, events.SubjectPaymentCreated},
		},
		"expiration": {
			Group:   "expiration-service",
			Publish: []events.Subject{events.SubjectExpirationComplete},
			Consume: []events.Subject{events.SubjectOrderCreated},
		},
		"payments": {
			Group:   "payments-service",
			Publish: []events.Subject{events.SubjectPaymentCreated},
			Consume: []events.Subject{events.SubjectOrderCreated, events.SubjectOrderCancelled},
		},
	}
}

// OperatorGrant returns the grant of an operator who replays dead letters
// (infra/cmd/deadletters): every subject a service publishes, none to
// consume.
func OperatorGrant() Grant {
	var g Grant
	for _, s := range ServiceGrants() {
		g.Publish = append(g.Publish, s.Publish...)
	}
	slices.Sort(g.Publish)
	g.Publish = slices.Compact(g.Publish)
	return g
}

// Permissions are the NATS subjects a user may publish and subscribe to;
// every other subject is refused by the NATS server.
type Permissions struct {
	Publish   []string
	Subscribe []string
}

// Permissions returns the NATS subjects a NATS Streaming client needs for
// g on the server of cluster clusterID, as nats-streaming-server v0.25 and
// stan.go v0.10 name them:
//
//   - publish _STAN.discover.<cluster> to connect, and its .pings suffix
//     for the client's pings; _STAN.close.<cluster> to close.
//   - publish _STAN.pub.<cluster>.<subject> for each subject in Publish,
//     with replies on the client's _STAN.acks.<nuid>, subscribed to.
//   - publish _STAN.sub.<cluster> and _STAN.subclose.<cluster> to open and
//     close subscriptions, given anything to consume. _STAN.unsub.<cluster>,
//     which would delete a durable subscription, is never granted: the
//     services close theirs.
//   - publish and subscribe _INBOX.>: heartbeats, ping and request replies
//     and deliveries arrive on inboxes the client names, and acks go to an
//     inbox the server names.
//
// Subjects are listed whole: "ticket:created" is one NATS token, so
// "ticket:*" would match nothing but a subject of that very name.
//
// The NATS server checks NATS subjects only, and NATS Streaming carries
// the channel inside the payload: the server files a published message on
// the channel its payload names (processClientPublish in
// nats-streaming-server's server/server.go), so a payload written by hand
// on a permitted subject reaches any channel; subscription requests for
// every channel go to one subject; and deliveries go to inboxes under
// _INBOX, which every client must be free to subscribe and publish to.
// Publish therefore binds the stock client, stan.go, and Consume cannot be
// enforced at all. The permissions keep out whoever has no credentials and
// stop a service from publishing another's subject by mistake; whoever
// holds a service's credentials and writes the protocol by hand can still
// read and write every channel.
func (g Grant) Permissions(clusterID string) Permissions {
	p := Permissions{
		Publish: []string{
			"_STAN.discover." + clusterID,
			"_STAN.discover." + clusterID + ".pings",
			"_STAN.close." + clusterID,
			"_INBOX.>",
		},
		Subscribe: []string{"_INBOX.>"},
	}
	for _, s := range g.Publish {
		p.Publish = append(p.Publish, PublishSubject(clusterID, s))
	}
	if len(g.Publish) > 0 {
		p.Subscribe = append(p.Subscribe, "_STAN.acks.*")
	}
	if len(g.Consume) > 0 {
		p.Publish = append(p.Publish, "_STAN.sub."+clusterID, "_STAN.subclose."+clusterID)
	}
	return p
}

// PermissionsOn returns g's NATS subjects on a server of transport:
// Permissions(clusterID) for NATS Streaming, JetStreamPermissions for
// JetStream.
func (g Grant) PermissionsOn(transport, clusterID string) Permissions {
	if transport == JetStream {
		return g.JetStreamPermissions()
	}
	return g.Permissions(clusterID)
}

// JetStreamPermissions returns the NATS subjects a JetStream client needs
// for g, as nats-server v2.15 and nats.go's jetstream package name them:
//
//   - publish each subject in Publish, which the stream takes, with the
//     server's acknowledgement on an inbox of the client's.
//   - publish $JS.API.STREAM.INFO, .CREATE and .UPDATE of the stream, so
//     that every service can make sure of it (see Connect).
//   - for each subject in Consume, publish $JS.API.CONSUMER.CREATE of the
//     group's consumer of it with the subject as its filter (the server
//     checks the request's filter against the subject), its .INFO and
//     .MSG.NEXT (pulling), and its acks, $JS.ACK.<stream>.<consumer>.>.
//   - subscribe _INBOX.>, where replies and deliveries arrive.
//
// Unlike NATS Streaming's, these bind consumption as well as publishing:
// a consumer is created only on the subject in its name, and a client
// pulls from no consumer but its own.
func (g Grant) JetStreamPermissions() Permissions {
	api := "$JS.API."
	p := Permissions{
		Publish: []string{
			api + "INFO",
			api + "STREAM.INFO." + Stream,
			api + "STREAM.CREATE." + Stream,
			api + "STREAM.UPDATE." + Stream,
		},
		Subscribe: []string{"_INBOX.>"},
	}
	for _, s := range g.Publish {
		p.Publish = append(p.Publish, string(s))
	}
	for _, s := range g.Consume {
		c := ConsumerName(g.Group, s)
		p.Publish = append(p.Publish,
			api+"CONSUMER.CREATE."+Stream+"."+c+"."+string(s),
			api+"CONSUMER.INFO."+Stream+"."+c,
			api+"CONSUMER.MSG.NEXT."+Stream+"."+c,
			"$JS.ACK."+Stream+"."+c+".>",
		)
	}
	return p
}

// PublishSubject is the NATS subject on which a NATS Streaming client
// publishes an event of subject s.
func PublishSubject(clusterID string, s events.Subject) string {
	return "_STAN.pub." + clusterID + "." + string(s)
}
