// Package apidocs reads the documents the web client serves to API users —
// the OpenAPI document and the Postman collection with its environments —
// and runs the collection as Postman's collection runner does, so that the
// tests can hold the documents to the services.
//
// The runner runs the collection's scripts in goja, a JavaScript engine,
// with a sandbox of the part of Postman's pm API that they use (see
// script.go and sandbox.js). Reaching for any other part throws, naming it,
// which fails the test or the run rather than passing unnoticed: what passes
// here is what the scripts say.
package apidocs

import (
	"encoding/json"
	"fmt"
	"os"
)

// Collection is a Postman collection (format v2.1), as far as the runner and
// the tests read it.
type Collection struct {
	Info     Info       `json:"info"`
	Variable []Variable `json:"variable"`
	Event    []Event    `json:"event"`
	Item     []Item     `json:"item"`
}

// Info describes the collection.
type Info struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Schema      string `json:"schema"`
}

// Variable is a collection variable and its initial value.
type Variable struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Item is a folder, when it has items, or a request.
type Item struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Item        []Item    `json:"item"`
	Request     *Request  `json:"request"`
	Response    []Example `json:"response"`
	Event       []Event   `json:"event"`
}

// Request is what an item sends.
type Request struct {
	Method      string   `json:"method"`
	Header      []Header `json:"header"`
	URL         URL      `json:"url"`
	Body        *Body    `json:"body"`
	Description string   `json:"description"`
}

// Header is one request or response header.
type Header struct {
	Key      string `json:"key"`
	Value    string `json:"value"`
	Disabled bool   `json:"disabled"`
}

// URL is a request's address; Raw is what is sent, Host and Path are its
// parts as Postman's editor shows them.
type URL struct {
	Raw  string   `json:"raw"`
	Host []string `json:"host"`
	Path []string `json:"path"`
}

// Body is a request body; the collection sends raw JSON only.
type Body struct {
	Mode string `json:"mode"`
	Raw  string `json:"raw"`
}

// Example is a response saved with a request, which Postman shows beside it.
type Example struct {
	Name            string   `json:"name"`
	OriginalRequest *Request `json:"originalRequest"`
	Status          string   `json:"status"`
	Code            int      `json:"code"`
	PreviewLanguage string   `json:"_postman_previewlanguage"`
	Header          []Header `json:"header"`
	Body            string   `json:"body"`
}

// Event is a script of a request, a folder or the collection: Listen is
// "prerequest" (run before the request is sent) or "test" (after the
// response came).
type Event struct {
	Listen string `json:"listen"`
	Script Script `json:"script"`
}

// Script is JavaScript, one line per element of Exec.
type Script struct {
	Type string   `json:"type"`
	Exec []string `json:"exec"`
}

// Environment is a Postman environment file: a named set of variables that
// take precedence over the collection's.
type Environment struct {
	ID     string     `json:"id"`
	Name   string     `json:"name"`
	Values []EnvValue `json:"values"`
	Scope  string     `json:"_postman_variable_scope"`
}

// EnvValue is one variable of an environment.
type EnvValue struct {
	Key     string `json:"key"`
	Value   string `json:"value"`
	Type    string `json:"type"`
	Enabled bool   `json:"enabled"`
}

// Vars returns the environment's enabled variables.
func (e *Environment) Vars() map[string]string {
	vars := make(map[string]string, len(e.Values))
	for _, v := range e.Values {
		if v.Enabled {
			vars[v.Key] = v.Value
		}
	}
	return vars
}

// LoadCollection reads a collection file.
func LoadCollection(path string) (*Collection, error) {
	var c Collection
	if err := load(path, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// LoadEnvironment reads an environment file.
func LoadEnvironment(path string) (*Environment, error) {
	var e Environment
	if err := load(path, &e); err != nil {
		return nil, err
	}
	if e.Scope != "environment" {
		return nil, fmt.Errorf("%s: _postman_variable_scope is %q, not \"environment\"", path, e.Scope)
	}
	return &e, nil
}

// load decodes a JSON file into v.
func load(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Requests returns the collection's requests in the order the collection
// runner sends them: depth first, as listed. Each comes with the folders
// that hold it, outermost first, whose scripts run around its own.
func (c *Collection) Requests() []Step {
	var steps []Step
	var walk func(items []Item, folders []*Item)
	walk = func(items []Item, folders []*Item) {
		for i := range items {
			it := &items[i]
			if it.Request == nil {
				walk(it.Item, append(folders[:len(folders):len(folders)], it))
				continue
			}
			steps = append(steps, Step{Item: it, Folders: folders})
		}
	}
	walk(c.Item, nil)
	return steps
}

// Step is one request of a run and the folders that hold it.
type Step struct {
	Item    *Item
	Folders []*Item
}

// Path names the step as Postman's sidebar shows it, such as
// "Story / 1. Seller signs up".
func (s Step) Path() string {
	p := ""
	for _, f := range s.Folders {
		p += f.Name + " / "
	}
	return p + s.Item.Name
}

// scripts returns the code of the step's scripts for listen, in the order
// Postman runs them: the collection's, then each folder's, then the
// request's own.
func (s Step) scripts(c *Collection, listen string) []string {
	var out []string
	add := func(events []Event) {
		for _, e := range events {
			if e.Listen == listen {
				out = append(out, joinLines(e.Script.Exec))
			}
		}
	}
	add(c.Event)
	for _, f := range s.Folders {
		add(f.Event)
	}
	add(s.Item.Event)
	return out
}

func joinLines(lines []string) string {
	s := ""
	for _, l := range lines {
		s += l + "\n"
	}
	return s
}
