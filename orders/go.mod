module ticketing.dev/orders

go 1.26.0

require ticketing.dev/common v0.0.0

replace ticketing.dev/common => ../common
