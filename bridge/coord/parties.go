package coord

import (
	"encoding/json"
	"slices"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// Parties names the agents an event of this package concerns, for the
// Bridge's read paths (who may read it besides admins): the same agents
// the read routes answer (GET /task/{id} and the like). A creating event
// names them in its payload: a delegation's requester and expert, a
// task's dispatcher and assignee, a collaboration's participants, a
// question's asker and addressee. A follow-up event (completion,
// expiry, end, answer) carries only its aggregate's id: agents is then
// its actor and origin the type of the creating event, whose parties are
// this event's parties too. Registrations and heartbeats concern their
// expert alone (they are public anyway). An event whose payload does not
// decode concerns its actor only.
func Parties(e store.Event) (agents []string, origin string) {
	agents = []string{e.AgentID}
	switch e.Type {
	case EventDelegationCreated:
		var d delegationCreated
		if json.Unmarshal(e.Data, &d) == nil {
			agents = add(agents, d.Target)
		}
	case EventTaskDispatched:
		var d taskDispatched
		if json.Unmarshal(e.Data, &d) == nil {
			agents = add(agents, d.To)
		}
	case EventCollaborationStarted:
		var d collaborationStarted
		if json.Unmarshal(e.Data, &d) == nil {
			for _, p := range d.Participants {
				agents = add(agents, p)
			}
		}
	case EventElicitationCreated:
		var d elicitationCreated
		if json.Unmarshal(e.Data, &d) == nil {
			agents = add(agents, d.To)
		}
	case EventDelegationCompleted, EventDelegationExpired:
		origin = EventDelegationCreated
	case EventTaskCompleted:
		origin = EventTaskDispatched
	case EventCollaborationEnded:
		origin = EventCollaborationStarted
	case EventElicitationResponded, EventElicitationCancelled:
		origin = EventElicitationCreated
	}
	return agents, origin
}

func add(agents []string, a string) []string {
	if a == "" || slices.Contains(agents, a) {
		return agents
	}
	return append(agents, a)
}
