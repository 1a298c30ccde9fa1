// estargzcheck opens an eStargz blob with containerd's own estargz package (what stargz-snapshotter runs) and
// checks it: the TOC digest, every chunk against its digest through the TOC verifier, and that estargz.Build
// makes the same TOC from the blob's tar (offsets aside, they depend on the compressor).
//
// Usage: estargzcheck BLOB TOC_DIGEST CHUNK_SIZE [prefetch]. With "prefetch" the blob has prioritised files: the
// prefetch landmark must be in the TOC, and the TOC is not compared with estargz.Build's (that orders the
// prioritised entries by the list, the squash by layer). Built in GOPATH mode against Debian's
// golang-github-containerd-stargz-snapshotter-dev (EstargzGoCheckTest runs it when Go and that package exist).
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"

	"github.com/containerd/stargz-snapshotter/estargz"
	digest "github.com/opencontainers/go-digest"
)

func main() {
	if err := run(os.Args[1], os.Args[2], os.Args[3], len(os.Args) > 4 && os.Args[4] == "prefetch"); err != nil {
		fmt.Fprintln(os.Stderr, "estargzcheck:", err)
		os.Exit(1)
	}
	fmt.Println("ok")
}

func run(blobPath, tocDigest, chunk string, prefetch bool) error {
	blob, err := os.ReadFile(blobPath)
	if err != nil {
		return err
	}
	chunkSize, err := strconv.Atoi(chunk)
	if err != nil {
		return err
	}
	sr := io.NewSectionReader(bytes.NewReader(blob), 0, int64(len(blob)))
	r, err := estargz.Open(sr)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	v, err := r.VerifyTOC(digest.Digest(tocDigest))
	if err != nil {
		return fmt.Errorf("verify TOC: %w", err)
	}
	ours, err := tocJSON(blob)
	if err != nil {
		return err
	}
	// Every chunk, read as the snapshotter reads it (from its offset), against its digest.
	chunks := 0
	for _, name := range regNames(ours) {
		ent, ok := r.Lookup(name)
		if !ok {
			return fmt.Errorf("%s: not found", name)
		}
		f, err := r.OpenFile(name)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for off := int64(0); off < ent.Size; {
			ce, ok := r.ChunkEntryForOffset(name, off)
			if !ok {
				return fmt.Errorf("%s: no chunk at %d", name, off)
			}
			buf := make([]byte, ce.ChunkSize)
			if _, err := f.ReadAt(buf, ce.ChunkOffset); err != nil && err != io.EOF {
				return fmt.Errorf("%s@%d: %w", name, off, err)
			}
			cv, err := v.Verifier(ce)
			if err != nil {
				return fmt.Errorf("%s@%d: %w", name, off, err)
			}
			cv.Write(buf)
			if !cv.Verified() {
				return fmt.Errorf("%s@%d: chunk digest mismatch", name, off)
			}
			off += ce.ChunkSize
			chunks++
		}
	}
	landmark := estargz.NoPrefetchLandmark
	if prefetch {
		landmark = estargz.PrefetchLandmark
	}
	if _, ok := r.Lookup(landmark); !ok {
		return fmt.Errorf("no %s in the TOC", landmark)
	}
	if prefetch {
		fmt.Printf("%d chunks verified\n", chunks)
		return nil
	}
	// Go's own writer on the same tar: the same TOC but for the offsets.
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		return err
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		return fmt.Errorf("gunzip: %w", err)
	}
	built, err := estargz.Build(io.NewSectionReader(bytes.NewReader(plain), 0, int64(len(plain))),
		estargz.WithChunkSize(chunkSize))
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	goBlob, err := io.ReadAll(built)
	if err != nil {
		return err
	}
	theirs, err := tocJSON(goBlob)
	if err != nil {
		return err
	}
	offsets := regexp.MustCompile(`(?m)^\t*"offset": [0-9]+,\n`)
	a, b := offsets.ReplaceAll(ours, nil), offsets.ReplaceAll(theirs, nil)
	if !bytes.Equal(a, b) {
		os.WriteFile(blobPath+".ours.json", a, 0o644)
		os.WriteFile(blobPath+".go.json", b, 0o644)
		return fmt.Errorf("TOC differs from estargz.Build's (see %s.ours.json / .go.json)", blobPath)
	}
	fmt.Printf("%d chunks verified\n", chunks)
	return nil
}

func tocJSON(blob []byte) ([]byte, error) {
	sr := io.NewSectionReader(bytes.NewReader(blob), 0, int64(len(blob)))
	off, size, err := estargz.OpenFooter(sr)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob[off : int64(len(blob))-size]))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	h, err := tr.Next()
	if err != nil {
		return nil, err
	}
	if h.Name != estargz.TOCTarName {
		return nil, fmt.Errorf("TOC member starts with %q", h.Name)
	}
	return io.ReadAll(tr)
}

func regNames(toc []byte) []string {
	var names []string
	re := regexp.MustCompile(`"name": "((?:[^"\\]|\\.)*)",\n\t*"type": "reg",\n\t*"size"`)
	for _, m := range re.FindAllSubmatch(toc, -1) {
		s, err := strconv.Unquote(`"` + string(m[1]) + `"`)
		if err == nil {
			names = append(names, s)
		}
	}
	return names
}
