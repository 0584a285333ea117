package apidocs

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/paths"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// OpenAPI is an OpenAPI document, as a model to read and as a validator of
// exchanges.
type OpenAPI struct {
	Doc       *v3.Document
	Validator validator.Validator
}

// LoadOpenAPI reads the document at path and checks that it is a valid
// OpenAPI document.
func LoadOpenAPI(path string) (*OpenAPI, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := libopenapi.NewDocument(b)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		return nil, fmt.Errorf("load %s: %v", path, errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		return nil, fmt.Errorf("%s is not a valid OpenAPI document: %s", path, Describe(verrs))
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("model of %s: %w", path, err)
	}
	return &OpenAPI{Doc: &m.Model, Validator: v}, nil
}

// Listed reports whether the document lists status among the responses of
// the request's operation itself, not only under its default. A request
// for no operation of the document is the validator's to report, and
// Listed reports true for it.
func (o *OpenAPI) Listed(r *http.Request, status int) bool {
	item, errs, _ := paths.FindPath(r, o.Doc, nil)
	if item == nil || len(errs) > 0 {
		return true
	}
	op := item.GetOperations().GetOrZero(strings.ToLower(r.Method))
	return op != nil && op.Responses.Codes.GetOrZero(strconv.Itoa(status)) != nil
}

// Describe writes the validator's errors out for a test's message.
func Describe(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "%s (%s)", e.Message, e.Reason)
		for _, s := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "; %s: %s", s.FieldPath, s.Reason)
		}
		b.WriteString(". ")
	}
	return b.String()
}
