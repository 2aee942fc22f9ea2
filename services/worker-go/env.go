package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// configError is a setting that is present but unusable; the message names the variable.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func configErrorf(format string, args ...interface{}) error {
	return &configError{fmt.Sprintf(format, args...)}
}

// env reads settings the way services/ai_system/config.py does: values are trimmed, and an
// empty value means the default.
type env func(name string) string

func (e env) str(name, fallback string) string {
	if value := strings.TrimSpace(e(name)); value != "" {
		return value
	}
	return fallback
}

func (e env) integer(name string, fallback, minimum int) (int, error) {
	raw := e.str(name, strconv.Itoa(fallback))
	value, err := strconv.Atoi(raw)
	if err != nil {
		return 0, configErrorf("%s must be a whole number, got %q", name, raw)
	}
	if value < minimum {
		return 0, configErrorf("%s must be at least %d, got %d", name, minimum, value)
	}
	return value, nil
}

func (e env) number(name string, fallback, minimum float64) (float64, error) {
	raw := e.str(name, strconv.FormatFloat(fallback, 'g', -1, 64))
	value, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		return 0, configErrorf("%s must be a number, got %q", name, raw)
	}
	if value < minimum {
		return 0, configErrorf("%s must be at least %g, got %g", name, minimum, value)
	}
	return value, nil
}

func (e env) boolean(name string, fallback bool) (bool, error) {
	raw := strings.ToLower(e.str(name, strconv.FormatBool(fallback)))
	switch raw {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, configErrorf("%s must be true or false, got %q", name, raw)
}

// secret is the value of name, or the contents of the file named by name_FILE (how Docker
// secrets reach a container).
func (e env) secret(name string) (string, error) {
	if path := strings.TrimSpace(e(name + "_FILE")); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", configErrorf("%s_FILE points to %q, which cannot be read: %s",
				name, path, reason(err))
		}
		return strings.TrimSpace(string(data)), nil
	}
	return strings.TrimSpace(e(name)), nil
}

// secretList is a pool of secrets, comma- or newline-separated.
func (e env) secretList(name string) ([]string, error) {
	raw, err := e.secret(name)
	return splitList(raw), err
}

func splitList(raw string) []string {
	var items []string
	for _, item := range strings.Split(strings.ReplaceAll(raw, "\n", ","), ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// endpoints is a comma-separated list of host:port, at least one.
func (e env) endpoints(name, fallback string) ([]string, error) {
	items := splitList(e.str(name, fallback))
	if len(items) == 0 {
		return nil, configErrorf("%s must name at least one host:port", name)
	}
	for _, item := range items {
		if !isEndpoint(item) {
			return nil, configErrorf(
				"%s must be host:port items separated by commas, got %q", name, item)
		}
	}
	return items, nil
}

func (e env) optionalEndpoint(name string) (string, error) {
	value := e.str(name, "")
	if value != "" && !isEndpoint(value) {
		return "", configErrorf("%s must be host:port, got %q", name, value)
	}
	return value, nil
}

func isEndpoint(endpoint string) bool {
	i := strings.LastIndex(endpoint, ":")
	if i <= 0 {
		return false
	}
	digits := endpoint[i+1:]
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return false
	}
	port, err := strconv.Atoi(digits)
	return err == nil && port > 0 && port < 65536
}

// caFile checks at start that name points to PEM CA certificates (empty: none).
func (e env) caFile(name string) (string, *x509.CertPool, error) {
	path := e.str(name, "")
	if path == "" {
		return "", nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, configErrorf("%s points to %q, which is not a readable file of PEM CA "+
			"certificates: %s", name, path, reason(err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return "", nil, configErrorf("%s points to %q, which is not a readable file of PEM CA "+
			"certificates: no certificate in it", name, path)
	}
	return path, pool, nil
}

// reason is an OS error without the path (the message names it already).
func reason(err error) string {
	if pathErr, ok := err.(*os.PathError); ok {
		return pathErr.Err.Error()
	}
	return err.Error()
}
