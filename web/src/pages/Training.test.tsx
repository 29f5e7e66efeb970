import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { catalog, configs, finishedJob, trainJob } from '../test/fixtures';
import { renderPage } from '../test/render';
import Training from './Training';

const routes = {
  'GET /v1/configs': { body: { configs } },
  'GET /v1/catalog': { body: catalog },
  'GET /v1/jobs': { body: { jobs: [trainJob, finishedJob] } },
  'POST /v1/jobs': { status: 201, body: { job_id: 'raysubmit_new42' } },
};

function renderTraining(extra = {}) {
  return renderPage(<Training />, { path: '/training', routes: { ...routes, ...extra } });
}

describe('Training', () => {
  it('submits a shipped config by name and opens the live job view', async () => {
    const user = userEvent.setup();
    const { ingress } = renderTraining();
    const select = await screen.findByLabelText('Config');
    await screen.findByRole('option', { name: 'iris' });
    await user.selectOptions(select, 'iris');

    // The config's summary replaces the form.
    expect(screen.getByText('random_forest, logistic_regression')).toBeInTheDocument();
    expect(screen.queryByLabelText('Model name')).not.toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Submit job' }));
    expect(await screen.findByTestId('location')).toHaveTextContent('/training/jobs/raysubmit_new42');
    expect(ingress.callsTo('POST', '/v1/jobs')[0]?.json).toEqual({ config: 'iris' });
  });

  it('builds a TrainSpec from the form, with families from the catalog for the task', async () => {
    const user = userEvent.setup();
    const { ingress } = renderTraining();
    const name = await screen.findByLabelText('Model name');

    // Classification dataset → classification families.
    const families = screen.getByRole('group', { name: 'Estimator families' });
    expect(within(families).getAllByRole('checkbox')).toHaveLength(5);
    expect(within(families).getByRole('checkbox', { name: 'svm' })).not.toBeChecked();

    // Switching to a regression dataset swaps the families and sets the task.
    await user.selectOptions(screen.getByLabelText('Built-in dataset name'), 'diabetes');
    expect(screen.getByLabelText('Task')).toHaveValue('regression');
    expect(within(families).getAllByRole('checkbox').map((c) => c.getAttribute('name') ?? c.parentElement?.textContent)).toEqual([
      'random_forest',
      'gradient_boosting',
      'ridge',
    ]);
    await user.click(within(families).getByRole('checkbox', { name: 'ridge' }));
    await user.click(within(families).getByRole('checkbox', { name: 'gradient_boosting' }));

    await user.clear(name);
    await user.type(name, 'diabetes-ridge');
    await user.clear(screen.getByLabelText('Number of samples'));
    await user.type(screen.getByLabelText('Number of samples'), '6');
    await user.clear(screen.getByLabelText('CPUs per trial'));
    await user.type(screen.getByLabelText('CPUs per trial'), '0.5');
    await user.selectOptions(screen.getByLabelText('Metric'), 'r2');

    await user.click(screen.getByRole('button', { name: 'Submit job' }));
    await screen.findByTestId('location');
    expect(ingress.callsTo('POST', '/v1/jobs')[0]?.json).toEqual({
      spec: {
        name: 'diabetes-ridge',
        dataset: { source: 'diabetes', target: 'target', task: 'regression' },
        search: { algorithm: 'random', num_samples: 6, cpus_per_trial: 0.5, metric: 'r2' },
        estimators: { random_forest: {}, ridge: {} },
      },
    });
  });

  it('sends a path or s3 URI as the dataset source', async () => {
    const user = userEvent.setup();
    const { ingress } = renderTraining();
    await user.click(await screen.findByRole('radio', { name: 'File path or S3 URI' }));
    await user.type(screen.getByLabelText('Path or URI'), 's3://data/houses.parquet');
    await user.clear(screen.getByLabelText('Target column'));
    await user.type(screen.getByLabelText('Target column'), 'price');
    await user.click(screen.getByRole('button', { name: 'Submit job' }));
    await screen.findByTestId('location');
    const spec = (ingress.callsTo('POST', '/v1/jobs')[0]?.json as { spec: { dataset: unknown } }).spec;
    expect(spec.dataset).toEqual({ source: 's3://data/houses.parquet', target: 'price', task: 'classification' });
  });

  it('names the fields to fix and sends nothing while the form is invalid', async () => {
    const user = userEvent.setup();
    const { ingress } = renderTraining();
    const name = await screen.findByLabelText('Model name');
    await user.clear(name);
    await user.type(name, 'has space');
    const families = screen.getByRole('group', { name: 'Estimator families' });
    for (const box of within(families).getAllByRole('checkbox')) if ((box as HTMLInputElement).checked) await user.click(box);
    await user.clear(screen.getByLabelText('Number of samples'));
    await user.type(screen.getByLabelText('Number of samples'), '0');

    await user.click(screen.getByRole('button', { name: 'Submit job' }));
    expect(screen.getByText(/no spaces/)).toBeInTheDocument();
    expect(screen.getByText('Choose at least one estimator family.')).toBeInTheDocument();
    expect(screen.getByText('Enter a whole number of at least 1.')).toBeInTheDocument();
    expect(name).toHaveAttribute('aria-invalid', 'true');
    expect(ingress.callsTo('POST', '/v1/jobs')).toHaveLength(0);
  });

  it('shows the server detail when the job is refused', async () => {
    const user = userEvent.setup();
    renderTraining({ 'POST /v1/jobs': { status: 422, body: { detail: "estimators: unknown family 'xgboost'" } } });
    await screen.findByLabelText('Model name');
    await user.click(screen.getByRole('button', { name: 'Submit job' }));
    expect(await screen.findByText("estimators: unknown family 'xgboost'")).toBeInTheDocument();
    expect(screen.queryByTestId('location')).not.toBeInTheDocument();
  });

  it('copies a shipped config into the form for editing', async () => {
    const user = userEvent.setup();
    renderTraining();
    await screen.findByRole('option', { name: 'diabetes' });
    await user.selectOptions(screen.getByLabelText('Config'), 'diabetes');
    await user.click(screen.getByRole('button', { name: 'Edit a copy in the form' }));
    expect(screen.getByLabelText('Config')).toHaveValue('');
    expect(screen.getByLabelText('Model name')).toHaveValue('diabetes');
    expect(screen.getByLabelText('Search algorithm')).toHaveValue('grid');
    expect(screen.getByLabelText('CPUs per trial')).toHaveValue(0.5);
    expect(screen.getByRole('checkbox', { name: 'ridge' })).toBeChecked();
  });

  it('lists recent jobs that open into the job view', async () => {
    const user = userEvent.setup();
    renderTraining();
    const table = await screen.findByRole('table', { name: 'Recent Ray jobs' });
    const row = within(table).getByRole('row', { name: /iris sweep/ });
    expect(row).toHaveTextContent('running');
    await user.click(within(row).getByRole('link', { name: 'Open' }));
    expect(await screen.findByTestId('location')).toHaveTextContent('/training/jobs/raysubmit_abc123');
  });

  it('keeps the full name, entrypoint and id of a long job in titles, beside its Open link', async () => {
    const id = 'nightly-breast-cancer-gradient-boosting-sweep-manual-20250615020000';
    const entrypoint = `python -m jobs.train --spec '${JSON.stringify(configs[0]?.spec)}'`;
    renderTraining({ 'GET /v1/jobs': { body: { jobs: [{ ...trainJob, job_id: id, name: 'breast-cancer-nightly', entrypoint }] } } });
    const table = await screen.findByRole('table', { name: 'Recent Ray jobs' });
    const row = within(table).getByRole('row', { name: /breast-cancer-nightly/ });
    expect(within(row).getByTitle(id)).toHaveTextContent(id);
    expect(within(row).getByText('breast-cancer-nightly')).toHaveAttribute('title', `breast-cancer-nightly\n${entrypoint}`);
    expect(within(row).getByRole('link', { name: 'Open' })).toHaveAttribute('href', `/training/jobs/${id}`);
  });

  it('says when there is no job and when the catalog cannot load', async () => {
    renderTraining({ 'GET /v1/jobs': { body: { jobs: [] } }, 'GET /v1/catalog': { status: 500, body: { detail: 'catalog exploded' } } });
    expect(await screen.findByText('No jobs yet.')).toBeInTheDocument();
    expect(await screen.findByText('catalog exploded')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Submit job' })).toBeDisabled();
  });
});
