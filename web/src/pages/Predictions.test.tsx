import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { models, prediction, schema } from '../test/fixtures';
import { renderPage } from '../test/render';
import Predictions from './Predictions';

const routes = {
  'GET /v1/models': { body: { models } },
  'GET /v1/models/iris/schema': { body: schema },
  'POST /v1/models/iris/predict': { body: prediction },
  'GET /ready': { body: { ready: true, models: [{ name: 'iris', alias: 'champion', version: '2', status: 'ready', error: null }] } },
};

function renderPredictions(extra = {}) {
  return renderPage(<Predictions />, { path: '/predictions', routes: { ...routes, ...extra } });
}

describe('Predictions', () => {
  it('generates one labelled, typed field per feature of the signature', async () => {
    renderPredictions();
    const sepal = await screen.findByLabelText('sepal length (cm)');
    expect(sepal).toHaveAttribute('type', 'number');
    expect(sepal).toHaveAttribute('step', 'any');
    expect(sepal).toHaveAttribute('placeholder', '5.1');
    expect(sepal).toBeRequired();

    const count = screen.getByLabelText('petal count');
    expect(count).toHaveAttribute('type', 'number');
    expect(count).toHaveAttribute('step', '1');
    expect(count).toHaveAttribute('placeholder', '3');

    const colour = screen.getByLabelText('colour');
    expect(colour).toHaveAttribute('type', 'text');
    expect(colour).toHaveAttribute('placeholder', 'blue');
    expect(colour).not.toBeRequired();

    expect(screen.getByRole('checkbox', { name: 'wild' })).not.toBeChecked();
    expect(screen.getByLabelText('Model')).toHaveValue('iris');
    expect(screen.getByLabelText('Alias')).toHaveValue('champion');
    expect(screen.getByText(/4 features/)).toBeInTheDocument();
    expect(await screen.findByText('Serving version 2')).toBeInTheDocument();
  });

  it('fills the example, sends typed values and shows the answer with probability bars', async () => {
    const user = userEvent.setup();
    const { ingress } = renderPredictions();
    await screen.findByLabelText('sepal length (cm)');
    await user.click(screen.getByRole('button', { name: 'Fill with example' }));
    expect(screen.getByLabelText('sepal length (cm)')).toHaveValue(5.1);
    expect(screen.getByLabelText('colour')).toHaveValue('blue');
    expect(screen.getByRole('checkbox', { name: 'wild' })).toBeChecked();

    await user.click(screen.getByRole('button', { name: 'Predict' }));
    expect(await screen.findByTestId('answered-by')).toHaveTextContent('Answered by iris version 2 (alias champion)');
    const call = ingress.callsTo('POST', '/v1/models/iris/predict')[0];
    expect(call?.query.get('alias')).toBe('champion');
    expect(call?.json).toEqual({
      instances: [{ 'sepal length (cm)': 5.1, 'petal count': 3, colour: 'blue', wild: true }],
      return_proba: true,
    });

    const bars = screen.getByRole('list', { name: 'Class probabilities' });
    const setosa = within(bars).getByRole('meter', { name: 'P(setosa)' });
    expect(setosa).toHaveAttribute('aria-valuenow', '0.82');
    expect(setosa.firstElementChild).toHaveStyle({ width: '82%' });
    expect(within(bars).getByRole('meter', { name: 'P(virginica)' })).toHaveAttribute('aria-valuetext', '3.0%');
    expect(within(bars).getAllByRole('listitem')[0]).toHaveClass('best');
    expect(screen.getByText('setosa', { selector: 'output' })).toBeInTheDocument();
  });

  it('checks required and numeric fields before sending', async () => {
    const user = userEvent.setup();
    const { ingress } = renderPredictions();
    await screen.findByLabelText('sepal length (cm)');
    await user.type(screen.getByLabelText('petal count'), '2.5');
    await user.click(screen.getByRole('button', { name: 'Predict' }));
    expect(screen.getByLabelText('sepal length (cm)')).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByText('Enter a value.')).toBeInTheDocument();
    expect(screen.getByText('Enter a whole number.')).toBeInTheDocument();
    expect(ingress.callsTo('POST', '/v1/models/iris/predict')).toHaveLength(0);
  });

  it('sends empty optional fields as null', async () => {
    const user = userEvent.setup();
    const { ingress } = renderPredictions();
    await user.type(await screen.findByLabelText('sepal length (cm)'), '6.2');
    await user.type(screen.getByLabelText('petal count'), '4');
    await user.click(screen.getByRole('button', { name: 'Predict' }));
    await screen.findByTestId('answered-by');
    expect(ingress.callsTo('POST', '/v1/models/iris/predict')[0]?.json).toEqual({
      instances: [{ 'sepal length (cm)': 6.2, 'petal count': 4, colour: null, wild: false }],
      return_proba: true,
    });
  });

  it('shows the 503 detail that names the model that is not ready', async () => {
    const user = userEvent.setup();
    renderPredictions({
      'POST /v1/models/iris/predict': { status: 503, body: { detail: "model 'iris@champion' is not ready: loading version 2" } },
    });
    await screen.findByLabelText('sepal length (cm)');
    await user.click(screen.getByRole('button', { name: 'Fill with example' }));
    await user.click(screen.getByRole('button', { name: 'Predict' }));
    expect(await screen.findByText("model 'iris@champion' is not ready: loading version 2")).toBeInTheDocument();
    expect(screen.getByText('Not ready yet')).toBeInTheDocument();
  });

  it('uploads a CSV batch as text/csv and lists every prediction', async () => {
    const user = userEvent.setup();
    const { ingress } = renderPredictions({
      'POST /v1/models/iris/predict': {
        body: { ...prediction, predictions: ['setosa', 'virginica'], probabilities: [[0.9, 0.05, 0.05], [0.1, 0.2, 0.7]] },
      },
    });
    await screen.findByLabelText('sepal length (cm)');
    await user.click(screen.getByRole('radio', { name: 'CSV batch' }));
    const csv = 'sepal length (cm),petal count\n5.1,3\n6.7,5\n';
    await user.upload(screen.getByLabelText('CSV file'), new File([csv], 'rows.csv', { type: 'text/csv' }));
    expect(await screen.findByText('rows.csv: 2 rows.')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Predict' }));

    const table = await screen.findByRole('table', { name: 'Predictions' });
    expect(within(table).getAllByRole('row')).toHaveLength(3);
    const row2 = within(table).getByRole('list', { name: 'Class probabilities, row 2' });
    expect(within(row2).getByRole('meter', { name: 'P(virginica)' })).toHaveAttribute('aria-valuenow', '0.7');
    expect(within(row2).getAllByRole('listitem')[2]).toHaveClass('best');
    expect(within(table).getAllByRole('row')[2]).toHaveTextContent('virginica');
    const call = ingress.callsTo('POST', '/v1/models/iris/predict')[0];
    expect(call?.headers['Content-Type']).toBe('text/csv');
    expect(call?.body).toBe(csv);
  });

  it('warns about a CSV that lacks a required column', async () => {
    const user = userEvent.setup();
    renderPredictions();
    await screen.findByLabelText('sepal length (cm)');
    await user.click(screen.getByRole('radio', { name: 'CSV batch' }));
    await user.upload(screen.getByLabelText('CSV file'), new File(['colour\nred\n'], 'x.csv', { type: 'text/csv' }));
    expect(await screen.findByText('Missing required columns: sepal length (cm), petal count.')).toBeInTheDocument();
  });

  it('asks for the signature of the chosen alias', async () => {
    const user = userEvent.setup();
    const { ingress } = renderPredictions();
    await screen.findByLabelText('sepal length (cm)');
    await user.selectOptions(screen.getByLabelText('Alias'), 'challenger');
    await screen.findByLabelText('sepal length (cm)');
    const asked = ingress.callsTo('GET', '/v1/models/iris/schema').map((c) => c.query.get('alias'));
    expect(asked).toEqual(['champion', 'challenger']);
  });

  it('explains when no model is registered', async () => {
    renderPredictions({ 'GET /v1/models': { body: { models: [] } } });
    expect(await screen.findByText('No registered model to ask yet.')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Predict' })).not.toBeInTheDocument();
  });
});
