import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { FormActions, SelectField } from './Form';

describe('SelectField', () => {
  it('labels the select, words each option and reports the chosen value', async () => {
    const onChange = vi.fn();
    render(<SelectField id="alias" label="Alias" value="champion" options={['champion', 'challenger']} text={(a, i) => `${i + 1}. ${a}`} onChange={onChange} />);
    const select = screen.getByLabelText('Alias');
    expect(select).toHaveValue('champion');
    expect(screen.getAllByRole('option').map((o) => o.textContent)).toEqual(['1. champion', '2. challenger']);
    await userEvent.setup().selectOptions(select, 'challenger');
    expect(onChange).toHaveBeenCalledWith('challenger');
  });
});

describe('FormActions', () => {
  it('offers the submit button, and disables it with its busy text while sending', () => {
    const { rerender } = render(<FormActions label="Predict" busyLabel="Predicting…" busy={false} />);
    expect(screen.getByRole('button', { name: 'Predict' })).toBeEnabled();
    rerender(<FormActions label="Predict" busyLabel="Predicting…" busy />);
    expect(screen.getByRole('button', { name: 'Predicting…' })).toBeDisabled();
    rerender(<FormActions label="Predict" busyLabel="Predicting…" busy={false} disabled />);
    expect(screen.getByRole('button', { name: 'Predict' })).toBeDisabled();
  });
});
