// Guards: parameter combinations the watcher would refuse at start-up (shared/settings.py) fail the
// deployment here instead, each with a message naming the parameter. The outputs are the checked
// values main.bicep turns into app settings, and every other resource depends on this module, so a
// failing guard stops the deployment before anything is created.
//
// This file declares no resource. fail() needs a recent Bicep CLI (see docs/deploy.md); checkov's
// Bicep parser does not know fail(), so `make checkov` skips this one file (tests/infra/test_checkov.py).
targetScope = 'subscription'

@description('RESULT_SINK as given: queue, eventgrid or both.')
param resultSink string

@description('Whether main.bicep creates an Event Grid topic.')
param deployEventGridTopic bool

@description('Resource id of an existing Event Grid topic, or empty.')
param eventGridTopicId string

@description('EVENTGRID_TOPIC_ENDPOINT of an existing topic, or empty.')
param eventGridTopicEndpoint string

@description('POLL_MIN_DELAY_SECONDS as given.')
param pollMinDelaySeconds int

@description('POLL_MAX_DELAY_SECONDS as given.')
param pollMaxDelaySeconds int

var topicGiven = deployEventGridTopic || !empty(eventGridTopicId) || !empty(eventGridTopicEndpoint)

@description('RESULT_SINK, once an Event Grid sink is known to have a topic.')
output resultSink string = resultSink == 'queue' || topicGiven ? resultSink : fail('resultSink \'${resultSink}\' publishes to Event Grid but names no topic: set deployEventGridTopic to true, or give eventGridTopicId (an existing topic) or eventGridTopicEndpoint.')

@description('eventGridTopicEndpoint, once known to be empty or an https URL.')
output eventGridTopicEndpoint string = empty(eventGridTopicEndpoint) || startsWith(eventGridTopicEndpoint, 'https://') ? eventGridTopicEndpoint : fail('eventGridTopicEndpoint must be an https:// URL, got \'${eventGridTopicEndpoint}\'.')

@description('POLL_MAX_DELAY_SECONDS, once known to be at least POLL_MIN_DELAY_SECONDS.')
output pollMaxDelaySeconds int = pollMinDelaySeconds <= pollMaxDelaySeconds ? pollMaxDelaySeconds : fail('pollMinDelaySeconds (${pollMinDelaySeconds}) must not be greater than pollMaxDelaySeconds (${pollMaxDelaySeconds}).')
