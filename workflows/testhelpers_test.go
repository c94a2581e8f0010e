package workflows

import "go.temporal.io/sdk/client"

// clientOptions starts test workflows under the ID their input names.
func clientOptions() client.StartWorkflowOptions {
	return client.StartWorkflowOptions{ID: testID}
}
