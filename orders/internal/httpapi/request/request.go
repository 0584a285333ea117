// Package request reads and validates the bodies of the orders API's
// requests. It is apart from package httpapi so that its fuzz targets build
// without the embedded database and bus the API's tests link, which would
// make every fuzzing run slow to build and slow to execute.
package request

import (
	"net/http"

	"ticketing.dev/common/web"
)

// MsgTicketID is the original app's message for a missing or malformed
// ticketId.
const MsgTicketID = "ticketId must be provided"

// CreateOrder is the body of POST /api/orders.
type CreateOrder struct {
	TicketID string `json:"ticketId"`
}

// DecodeCreateOrder reads the body of POST /api/orders; its ticketId must
// be an id as the API hands them out.
func DecodeCreateOrder(w http.ResponseWriter, r *http.Request) (CreateOrder, error) {
	var req CreateOrder
	if err := web.Decode(w, r, &req); err != nil {
		return CreateOrder{}, err
	}
	var v web.Validator
	v.Check(web.ValidID(req.TicketID), "ticketId", MsgTicketID)
	if err := v.Err(); err != nil {
		return CreateOrder{}, err
	}
	return req, nil
}
