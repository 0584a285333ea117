module ticketing.dev/client

go 1.26.0

require (
	github.com/go-chi/chi/v5 v5.5.0
	github.com/stretchr/testify v1.12.1
	ticketing.dev/common v0.0.0
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect

replace ticketing.dev/common => ../common
