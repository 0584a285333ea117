package webtest

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"
)

// Response is an HTTP answer as a test reads it.
type Response struct {
	Status  int
	Header  http.Header
	Body    []byte
	Cookies []*http.Cookie
}

// sendTimeout bounds a request of Send, answer included.
const sendTimeout = 20 * time.Second

// Send sends a JSON request for a test: method to url with body and the
// Content-Type application/json, carrying cookie when it is not nil, then
// changed by edit when it is not nil (Headers.Set, say). It goes through
// client, http.DefaultClient when nil, and Send reads the whole answer
// within 20 s. It never fails the test, so that goroutines other than the
// test's may call it.
func Send(client *http.Client, method, url, body string, cookie *http.Cookie, edit func(*http.Request)) (Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	if edit != nil {
		edit(req)
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b, Cookies: resp.Cookies()}, err
}
