package web

import "ticketing.dev/common/errs"

// Validator collects the failed fields of a request in the order checked.
type Validator struct {
	fields []errs.FieldError
}

// Check records message against field unless ok.
func (v *Validator) Check(ok bool, field, message string) {
	if !ok {
		v.fields = append(v.fields, errs.FieldError{Field: field, Message: message})
	}
}

// Err returns the collected failures as an *errs.ValidationError, or nil.
func (v *Validator) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &errs.ValidationError{Fields: v.fields}
}

// ValidID reports whether s is an id as the API hands them out: a MongoDB
// ObjectID in 24 lower- or upper-case hex digits.
func ValidID(s string) bool {
	if len(s) != 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
