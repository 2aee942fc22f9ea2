package main

import (
	"math"
	"strconv"
	"sync"
	"time"
)

// keyPool hands out a provider's keys round-robin, skipping keys resting after a 429.
// It never shows a key: only how many there are.
type keyPool struct {
	mu       sync.Mutex
	keys     []string
	next     int
	cooldown time.Duration
	resting  map[string]time.Time
	rested   int // keys put to rest so far (the metrics read it)
	now      func() time.Time
}

func newKeyPool(keys []string, cooldown time.Duration) *keyPool {
	return &keyPool{keys: keys, cooldown: cooldown, resting: map[string]time.Time{}, now: time.Now}
}

func (p *keyPool) size() int { return len(p.keys) }

// acquire is the next key not resting, or the error telling the user when to try again.
func (p *keyPool) acquire(provider string) (string, error) {
	p.mu.Lock()
	now := p.now()
	for offset := range p.keys {
		index := (p.next + offset) % len(p.keys)
		if !p.resting[p.keys[index]].After(now) {
			p.next = index + 1
			p.mu.Unlock()
			return p.keys[index], nil
		}
	}
	p.mu.Unlock()
	return "", p.exhausted(provider)
}

func (p *keyPool) coolDown(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resting[key] = p.now().Add(p.cooldown)
	p.rested++
}

// cooldowns is how many times a key was put to rest.
func (p *keyPool) cooldowns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rested
}

// cooling is how many keys rest right now.
func (p *keyPool) cooling() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	now, count := p.now(), 0
	for _, until := range p.resting {
		if until.After(now) {
			count++
		}
	}
	return count
}

func (p *keyPool) exhausted(provider string) error {
	p.mu.Lock()
	now := p.now()
	soonest := time.Duration(math.MaxInt64)
	for _, key := range p.keys {
		if wait := p.resting[key].Sub(now); wait < soonest {
			soonest = wait
		}
	}
	p.mu.Unlock()
	when := "in a moment"
	if wait := math.Ceil(soonest.Seconds()); wait > 0 {
		when = "in " + strconv.Itoa(int(wait)) + " s"
	}
	return newProviderError(kindRateLimited, "All %d %s API keys of this worker are "+
		"rate-limited or out of quota (HTTP 429); try again %s, or type your own key in the "+
		"chat.", len(p.keys), provider, when)
}
