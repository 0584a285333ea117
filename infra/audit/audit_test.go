package audit_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
	"ticketing.dev/infra/audit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func databases(t *testing.T) audit.Databases {
	return audit.Databases{Auth: testkit.DB(t), Tickets: testkit.DB(t), Orders: testkit.DB(t), Payments: testkit.DB(t)}
}

func oid(t *testing.T, hex string) bson.ObjectID {
	t.Helper()
	id, err := bson.ObjectIDFromHex(hex)
	require.NoError(t, err)
	return id
}

func insert(t *testing.T, coll *mongo.Collection, docs ...bson.M) {
	t.Helper()
	for _, d := range docs {
		_, err := coll.InsertOne(t.Context(), d)
		require.NoError(t, err)
	}
}

// store writes the world of check_test.go as the services store it: the
// field names and types of their *db packages, events pending in outbox
// arrays, ticket ids as ObjectIDs in orders and as strings in payments.
func store(t *testing.T, dbs audit.Databases, expires time.Time) {
	t.Helper()
	pending := bson.A{bson.M{"id": "m1", "subject": "ticket:updated", "data": []byte(`{}`)}}
	insert(t, dbs.Auth.Collection("users"),
		bson.M{"_id": oid(t, seller), "email": "seller@example.com", "password": "scrypt$secret"},
		bson.M{"_id": oid(t, buyer), "email": "buyer@example.com", "password": "scrypt$secret"})
	insert(t, dbs.Tickets.Collection("tickets"),
		bson.M{"_id": oid(t, soldTicket), "title": "final", "price": int64(10000), "userId": seller, "version": int64(1), "orderId": completeOrder, "outbox": bson.A{}},
		bson.M{"_id": oid(t, freshTicket), "title": "theatre", "price": int64(3000), "userId": seller, "version": int64(3), "outbox": pending, "releasedOrderIds": bson.A{cancelledOrder}})
	insert(t, dbs.Orders.Collection("orders"),
		bson.M{"_id": oid(t, completeOrder), "userId": buyer, "status": "complete", "expiresAt": expires, "ticketId": oid(t, soldTicket), "version": int64(1), "outbox": bson.A{}})
	insert(t, dbs.Orders.Collection("tickets"),
		bson.M{"_id": oid(t, soldTicket), "title": "final", "price": int64(10000), "version": int64(1)})
	insert(t, dbs.Orders.Collection("claims"),
		bson.M{"_id": oid(t, soldTicket), "orderId": oid(t, completeOrder), "createdAt": expires.Add(-time.Minute)})
	insert(t, dbs.Payments.Collection("payments"),
		bson.M{"_id": oid(t, paymentID), "orderId": completeOrder, "status": "succeeded", "stripeId": "ch_1", "createdAt": expires, "outbox": bson.A{}})
	insert(t, dbs.Payments.Collection("orders"),
		bson.M{"_id": oid(t, completeOrder), "userId": buyer, "status": "created", "price": int64(10000), "version": int64(0), "expiresAt": expires})
}

func TestLoad_ReadsTheDocumentsAsTheServicesStoreThem(t *testing.T) {
	dbs := databases(t)
	expires := time.Now().Add(time.Minute).UTC().Truncate(time.Millisecond)
	store(t, dbs, expires)

	s, err := audit.Load(t.Context(), dbs)
	require.NoError(t, err)
	assert.Equal(t, map[string]audit.User{seller: {ID: seller}, buyer: {ID: buyer}}, s.Users)
	assert.Equal(t, map[string]audit.Ticket{
		soldTicket:  {ID: soldTicket, Title: "final", Price: 10000, UserID: seller, Version: 1, OrderID: completeOrder},
		freshTicket: {ID: freshTicket, Title: "theatre", Price: 3000, UserID: seller, Version: 3, Released: []string{cancelledOrder}, Pending: 1},
	}, s.Tickets)
	assert.Equal(t, map[string]audit.Order{
		completeOrder: {ID: completeOrder, UserID: buyer, Status: events.StatusComplete, ExpiresAt: expires, TicketID: soldTicket, Version: 1},
	}, s.Orders)
	assert.Equal(t, map[string]audit.TicketReplica{soldTicket: {ID: soldTicket, Title: "final", Price: 10000, Version: 1}}, s.TicketReplicas)
	assert.Equal(t, map[string]audit.Claim{soldTicket: {TicketID: soldTicket, OrderID: completeOrder, CreatedAt: expires.Add(-time.Minute)}}, s.Claims)
	assert.Equal(t, map[string]audit.Payment{paymentID: {ID: paymentID, OrderID: completeOrder, Status: "succeeded", StripeID: "ch_1"}}, s.Payments)
	assert.Equal(t, map[string]audit.OrderReplica{
		completeOrder: {ID: completeOrder, UserID: buyer, Status: events.StatusCreated, Price: 10000, Version: 0, ExpiresAt: expires},
	}, s.OrderReplicas)

	r := audit.Check(s, time.Now(), audit.Config{})
	require.Len(t, r.Violations, 2, "%s", r)
	assert.Equal(t, audit.RuleOutbox, r.Violations[0].Rule)
	assert.Equal(t, audit.RuleTicketReplica, r.Violations[1].Rule, "the fresh ticket has no replica")
}

func TestWaitQuiet_ReturnsTheAuditOnceEventsHaveDrained(t *testing.T) {
	dbs := databases(t)
	expires := time.Now().Add(time.Minute).UTC().Truncate(time.Millisecond)
	store(t, dbs, expires)

	// What the relay and the orders listener would do a moment later. The
	// delay is the point: WaitQuiet must be seen to wait, and nothing marks
	// the moment it has started looking.
	go func() {
		time.Sleep(500 * time.Millisecond)
		ctx := context.Background()
		_, err := dbs.Tickets.Collection("tickets").UpdateOne(ctx, bson.M{"_id": oid(t, freshTicket)}, bson.M{"$set": bson.M{"outbox": bson.A{}}})
		assert.NoError(t, err)
		_, err = dbs.Orders.Collection("tickets").InsertOne(ctx, bson.M{"_id": oid(t, freshTicket), "title": "theatre", "price": int64(3000), "version": int64(3)})
		assert.NoError(t, err)
	}()

	start := time.Now()
	r, err := audit.WaitQuiet(t.Context(), dbs, 20*time.Second, audit.Config{})
	require.NoError(t, err)
	assert.True(t, r.OK(), "%s", r)
	assert.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond+audit.Quiet, "waited for the drain, then for quiet")
	assert.Equal(t, 2, r.Counts.TicketReplicas)
}

func TestWaitQuiet_GivesUpReportingWhatNeverSettled(t *testing.T) {
	dbs := databases(t)
	store(t, dbs, time.Now().Add(time.Minute).UTC())

	r, err := audit.WaitQuiet(t.Context(), dbs, 1500*time.Millisecond, audit.Config{})
	require.True(t, errors.Is(err, audit.ErrNotQuiet), "err: %v", err)
	assert.True(t, r.Settling())
	assert.Contains(t, r.String(), "1 events stored with the ticket (version 3) never published (settling)")
}

// TestWaitSettled_WaitsWhileTheDataChanges, past its stall, and returns
// once the events have drained.
func TestWaitSettled_WaitsWhileTheDataChanges(t *testing.T) {
	dbs := databases(t)
	store(t, dbs, time.Now().Add(time.Minute).UTC())
	tickets := dbs.Tickets.Collection("tickets")

	// A backlog being worked off: the ticket changes every 300 ms for
	// 2.4 s, longer than the stall of 1 s, before its event is published.
	go func() {
		ctx := context.Background()
		for i := range 8 {
			time.Sleep(300 * time.Millisecond)
			_, err := tickets.UpdateOne(ctx, bson.M{"_id": oid(t, freshTicket)}, bson.M{"$set": bson.M{"title": fmt.Sprintf("theatre %d", i)}})
			assert.NoError(t, err)
		}
		_, err := tickets.UpdateOne(ctx, bson.M{"_id": oid(t, freshTicket)}, bson.M{"$set": bson.M{"title": "theatre", "outbox": bson.A{}}})
		assert.NoError(t, err)
		_, err = dbs.Orders.Collection("tickets").InsertOne(ctx, bson.M{"_id": oid(t, freshTicket), "title": "theatre", "price": int64(3000), "version": int64(3)})
		assert.NoError(t, err)
	}()

	start := time.Now()
	r, err := audit.WaitSettled(t.Context(), dbs, time.Second, 30*time.Second, audit.Config{})
	require.NoError(t, err)
	assert.True(t, r.OK(), "%s", r)
	assert.GreaterOrEqual(t, time.Since(start), 2400*time.Millisecond+audit.Quiet, "waited for the drain, then for quiet")
}

// TestWaitSettled_GivesUpWhenNothingChanges for its stall, long before
// its bound.
func TestWaitSettled_GivesUpWhenNothingChanges(t *testing.T) {
	dbs := databases(t)
	store(t, dbs, time.Now().Add(time.Minute).UTC())

	start := time.Now()
	r, err := audit.WaitSettled(t.Context(), dbs, time.Second, time.Minute, audit.Config{})
	require.True(t, errors.Is(err, audit.ErrNotQuiet), "err: %v", err)
	assert.Contains(t, err.Error(), "nothing changed for 1s")
	assert.Less(t, time.Since(start), 30*time.Second, "gave up after its stall, not its bound")
	assert.True(t, r.Settling())
}

func TestAudit_EmptyDatabasesAreConsistent(t *testing.T) {
	r, err := audit.Audit(t.Context(), databases(t), audit.Config{})
	require.NoError(t, err)
	assert.True(t, r.OK())
	assert.Zero(t, r.Counts.Tickets)
}

// TestLoad_ReadsClaimsBeforeOrders: the collections are read one after the
// other, not as one snapshot. Read orders first, an overdue order cancelled
// between the two reads would look active with no claim, a double sale
// the audit would report falsely; read claims first, it looks like a claim
// its cancelled order has not released yet, which the audit only warns of.
func TestLoad_ReadsClaimsBeforeOrders(t *testing.T) {
	orders, rec := testkit.RecordCommands(t)
	dbs := databases(t)
	dbs.Orders = orders
	_, err := audit.Load(t.Context(), dbs)
	require.NoError(t, err)

	var finds []string
	for _, c := range rec.Take() {
		if c.Name == "find" {
			finds = append(finds, c.Collection)
		}
	}
	claims, ordersAt := slices.Index(finds, "claims"), slices.Index(finds, "orders")
	require.True(t, claims >= 0 && ordersAt >= 0, "finds in the orders database: %v", finds)
	assert.Less(t, claims, ordersAt, "finds in the orders database: %v", finds)
}
