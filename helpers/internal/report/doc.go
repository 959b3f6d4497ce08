// Package report renders a release's evidence chain as one self-contained HTML file, a Markdown summary and Prometheus textfile metrics.
package report
