package check

import (
	"testing"
)

// TestStageNamesAreLabels: a stage renamed with every reference to it,
// or referred to by its index, is the same Dockerfile to BuildKit and has
// the same tree; a reference to another stage, or to an image of the
// stage's name, is not.
func TestStageNamesAreLabels(t *testing.T) {
	tree := func(src string) *Node {
		d, err := ParseDockerfile("Dockerfile", []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		return d.Tree()
	}
	const base = "FROM golang:1.26 AS build\nRUN go build -o /out/x .\n" +
		"FROM build AS test\nRUN /out/x -test\n" +
		"FROM busybox:1.37\nCOPY --from=build /out/x /x\nRUN --mount=type=bind,from=test,target=/t true\n"
	want := tree(base)
	for _, src := range []string{
		"FROM golang:1.26 AS Builder\nRUN go build -o /out/x .\n" +
			"FROM builder AS check\nRUN /out/x -test\n" +
			"FROM busybox:1.37\nCOPY --from=BUILDER /out/x /x\nRUN --mount=type=bind,from=check,target=/t true\n",
		"FROM golang:1.26 AS build\nRUN go build -o /out/x .\n" +
			"FROM build AS test\nRUN /out/x -test\n" +
			"FROM busybox:1.37\nCOPY --from=0 /out/x /x\nRUN --mount=type=bind,from=1,target=/t true\n",
	} {
		if d := Compare(tree(src), want); len(d) != 0 {
			t.Errorf("%s\ndiffers from the base: %v", src, d)
		}
	}
	for _, src := range []string{
		// COPY from the other stage.
		"FROM golang:1.26 AS build\nRUN go build -o /out/x .\n" +
			"FROM build AS test\nRUN /out/x -test\n" +
			"FROM busybox:1.37\nCOPY --from=test /out/x /x\nRUN --mount=type=bind,from=test,target=/t true\n",
		// An image named #0 (BuildKit cannot pull it), not stage #0.
		"FROM golang:1.26 AS build\nRUN go build -o /out/x .\n" +
			"FROM build AS test\nRUN /out/x -test\n" +
			"FROM busybox:1.37\nCOPY --from=#0 /out/x /x\nRUN --mount=type=bind,from=test,target=/t true\n",
		// An image named build, not the stage.
		"FROM golang:1.26 AS builder\nRUN go build -o /out/x .\n" +
			"FROM build AS test\nRUN /out/x -test\n" +
			"FROM busybox:1.37\nCOPY --from=builder /out/x /x\nRUN --mount=type=bind,from=test,target=/t true\n",
	} {
		if d := Compare(tree(src), want); len(d) == 0 {
			t.Errorf("%s\nis taken for the base", src)
		}
	}
}
