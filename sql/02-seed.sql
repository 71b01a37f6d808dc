-- The five clients of the contract, each starting at balance zero.
-- ON CONFLICT DO NOTHING keeps existing balances when the seed runs again.

INSERT INTO clientes (id, limite, saldo) VALUES
    (1,   100000, 0),
    (2,    80000, 0),
    (3,  1000000, 0),
    (4, 10000000, 0),
    (5,   500000, 0)
ON CONFLICT (id) DO NOTHING;
