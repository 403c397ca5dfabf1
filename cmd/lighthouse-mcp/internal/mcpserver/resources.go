package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/lighthouse-project/lighthouse/bridge/client"
)

// The resource templates of the shadow files, as the FUSE view names
// them: current/ and history/<sequence>/.
const (
	ShadowTemplate  = "lighthouse://shadow/{+path}"
	HistoryTemplate = "lighthouse://history/{sequence}/{+path}"
)

func (h *handlers) addResources(s *mcp.Server) {
	s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: ShadowTemplate, Name: "shadow-file", Title: "Shadow file",
		Description: "the latest content of a project file as the Bridge's shadow holds it"}, h.readResource)
	s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: HistoryTemplate, Name: "shadow-history", Title: "Shadow file as of an event",
		Description: "a project file's content as of the event with that sequence"}, h.readResource)
}

// parseResourceURI reads lighthouse://shadow/PATH or
// lighthouse://history/SEQ/PATH (PATH percent-encoded as a URI path).
func parseResourceURI(uri string) (path string, at *uint64, err error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "lighthouse" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Port() != "" {
		return "", nil, fmt.Errorf("%q is not a lighthouse://shadow/ or lighthouse://history/ URI", uri)
	}
	rest := strings.TrimPrefix(u.Path, "/")
	switch u.Host {
	case "shadow":
		return rest, nil, nil
	case "history":
		seq, p, ok := strings.Cut(rest, "/")
		n, err := strconv.ParseUint(seq, 10, 64)
		if !ok || err != nil {
			return "", nil, fmt.Errorf("%q: lighthouse://history/ takes a sequence and a path", uri)
		}
		return p, &n, nil
	}
	return "", nil, fmt.Errorf("%q is not a lighthouse://shadow/ or lighthouse://history/ URI", uri)
}

func (h *handlers) readResource(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	c, err := h.bridge()
	if err != nil {
		return nil, err
	}
	p, at, err := parseResourceURI(uri)
	if err != nil {
		return nil, err
	}
	sc, err := c.GetShadow(ctx, p, client.ShadowRead{At: at, Length: h.o.MaxReadBytes})
	var e *client.Error
	switch {
	case errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Status == http.StatusBadRequest):
		return nil, mcp.ResourceNotFoundError(uri)
	case err != nil:
		return nil, toolError(err)
	case int64(len(sc.Content)) < sc.Size:
		return nil, fmt.Errorf("%s is %d bytes, more than one read gives (%d): read it in ranges with the shadow_read tool", p, sc.Size, h.o.MaxReadBytes)
	}
	rc := &mcp.ResourceContents{URI: uri}
	if utf8.Valid(sc.Content) {
		rc.Text, rc.MIMEType = string(sc.Content), "text/plain; charset=utf-8"
	} else {
		rc.Blob, rc.MIMEType = sc.Content, "application/octet-stream"
	}
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{rc}}, nil
}

func httpStatusText(code int) string { return http.StatusText(code) }
