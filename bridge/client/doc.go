// Package client is the typed Go client of the Bridge's HTTP API: one
// method for every row of the route table (api.Declared), with the
// server's own request and response types, so client and handlers cannot
// drift apart. A test walks the table and fails when a route has no
// method.
//
// A Client holds one session: it creates it on first use from the agent
// id and key (as `lighthouse-bridge token` prints the key) and, when the
// Bridge answers 401 (the session expired or was evicted by a newer one),
// creates a new one and repeats the request, once. A request the Bridge
// refuses returns an *Error (errors.As) carrying the HTTP status, the
// Bridge's JSON error and its Retry-After.
//
// Everything is bounded: each request by a timeout and its context, each
// answer by a size limit (a hostile or broken server cannot make the
// client hold more), redirects are refused, and an event stream that
// stops sending (not even its keep-alives) is reconnected.
package client
