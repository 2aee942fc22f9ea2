package main

import "container/list"

// recentTasks remembers the latest deliveries, so a QoS 1 redelivery of the same (task,
// attempt) is processed once; a requeued task comes with a new attempt number.
type recentTasks struct {
	capacity int
	order    *list.List
	seen     map[delivery]*list.Element
}

type delivery struct {
	taskID  string
	attempt int32
}

func newRecentTasks(capacity int) *recentTasks {
	return &recentTasks{capacity: capacity, order: list.New(), seen: map[delivery]*list.Element{}}
}

// firstTime is true the first time a delivery is seen (and remembers it), false after.
// Only the bus's message handler calls it, so it needs no lock.
func (r *recentTasks) firstTime(taskID string, attempt int32) bool {
	key := delivery{taskID, attempt}
	if element, ok := r.seen[key]; ok {
		r.order.MoveToFront(element)
		return false
	}
	r.seen[key] = r.order.PushFront(key)
	if r.order.Len() > r.capacity {
		oldest := r.order.Back()
		r.order.Remove(oldest)
		delete(r.seen, oldest.Value.(delivery))
	}
	return true
}
