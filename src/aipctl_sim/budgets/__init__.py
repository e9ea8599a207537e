"""AWS Budgets operations moto lacks (UpdateBudget); the rest stay with moto's budgets backend."""
