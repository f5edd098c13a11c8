// Package tlsprom exports modtls's statistics to Prometheus: the
// counters and fill of every cache (hits, misses, evictions, ...) and
// the engine's own counts (sessions issued and resumed, data connections
// accepted and refused). It is a package of its own so that programs that
// do not use Prometheus do not build its client.
//
// The shortest use:
//
//	prometheus.MustRegister(tlsprom.NewCollector(func() *modtls.TLS { return eng }))
//	http.Handle("/metrics", promhttp.Handler())
package tlsprom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// Collector is a prometheus.Collector of a modtls engine's statistics.
type Collector struct {
	current func() *modtls.TLS

	cache   []cacheMetric
	engine  []engineMetric
	dataTot *prometheus.Desc
	scrape  *prometheus.Desc
}

type cacheMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(modtls.Stats) uint64
}

type engineMetric struct {
	desc  *prometheus.Desc
	value func(modtls.EngineStats) uint64
}

// NewCollector returns a collector of the engine current returns at each
// scrape (a daemon that replaces its engine on reload keeps one
// collector); nil means nothing to report.
func NewCollector(current func() *modtls.TLS) *Collector {
	labels := []string{"cache", "provider"}
	counter := func(name, help string, v func(modtls.Stats) uint64) cacheMetric {
		return cacheMetric{prometheus.NewDesc("ftpdtls_tls_cache_"+name+"_total", help, labels, nil), prometheus.CounterValue, v}
	}
	gauge := func(name, help string, v func(modtls.Stats) uint64) cacheMetric {
		return cacheMetric{prometheus.NewDesc("ftpdtls_tls_cache_"+name, help, labels, nil), prometheus.GaugeValue, v}
	}
	engine := func(name, help string, v func(modtls.EngineStats) uint64) engineMetric {
		return engineMetric{prometheus.NewDesc("ftpdtls_tls_"+name+"_total", help, nil, nil), v}
	}
	return &Collector{
		current: current,
		cache: []cacheMetric{
			counter("hits", "Lookups that found a live entry.", func(s modtls.Stats) uint64 { return s.Hits }),
			counter("misses", "Lookups that found none.", func(s modtls.Stats) uint64 { return s.Misses }),
			counter("stored", "Entries added.", func(s modtls.Stats) uint64 { return s.Stored }),
			counter("deleted", "Entries removed by a delete.", func(s modtls.Stats) uint64 { return s.Deleted }),
			counter("expired", "Entries dropped because they expired.", func(s modtls.Stats) uint64 { return s.Expired }),
			counter("evicted", "Live entries dropped to make room for others.", func(s modtls.Stats) uint64 { return s.Evicted }),
			counter("errors", "Damaged entries found and failed operations.", func(s modtls.Stats) uint64 { return s.Errors }),
			counter("too_large", "Entries refused because they do not fit.", func(s modtls.Stats) uint64 { return s.TooLarge }),
			gauge("entries", "Live entries now.", func(s modtls.Stats) uint64 { return s.Entries }),
			gauge("capacity", "Entries the storage is expected to hold (0: unbounded or unknown).", func(s modtls.Stats) uint64 { return s.Capacity }),
		},
		engine: []engineMetric{
			engine("sessions_issued", "TLS sessions stored for resumption.", func(s modtls.EngineStats) uint64 { return s.SessionsIssued }),
			engine("sessions_resumed", "TLS sessions found for resumption.", func(s modtls.EngineStats) uint64 { return s.SessionsResumed }),
			engine("control_resumed", "FTPS control connections that resumed a session.", func(s modtls.EngineStats) uint64 { return s.ControlResumed }),
			engine("handshake_failures", "Failed FTPS control handshakes.", func(s modtls.EngineStats) uint64 { return s.HandshakeFailures }),
		},
		dataTot: prometheus.NewDesc("ftpdtls_tls_data_connections_total",
			"FTPS data connections by the data-channel check's verdict.", []string{"verdict"}, nil),
		scrape: prometheus.NewDesc("ftpdtls_tls_cache_stats_errors_total",
			"Scrapes whose cache statistics could not be read (stats of that scrape are partial).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.cache {
		ch <- m.desc
	}
	for _, m := range c.engine {
		ch <- m.desc
	}
	ch <- c.dataTot
	ch <- c.scrape
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	t := c.current()
	if t == nil {
		return
	}
	caches, err := t.CacheStats()
	for _, cs := range caches {
		for _, m := range c.cache {
			ch <- prometheus.MustNewConstMetric(m.desc, m.kind, float64(m.value(cs.Stats)), cs.Cache, cs.Provider)
		}
	}
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.scrape, err)
	}
	es := t.EngineStats()
	for _, m := range c.engine {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(m.value(es)))
	}
	ch <- prometheus.MustNewConstMetric(c.dataTot, prometheus.CounterValue, float64(es.DataAccepted), "accepted")
	ch <- prometheus.MustNewConstMetric(c.dataTot, prometheus.CounterValue, float64(es.DataRefused), "refused")
}
